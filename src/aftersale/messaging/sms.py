"""SMS behind one interface: console and file backends for development, Twilio for real.

Choose with AFTERSALE_SMS_BACKEND (a dotted path); Twilio reads TWILIO_ACCOUNT_SID,
TWILIO_AUTH_TOKEN and, for tests or a regional edge, TWILIO_API_BASE.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from aftersale.core import clock

logger = logging.getLogger(__name__)

# Twilio error codes that will not change by trying again.
TWILIO_PERMANENT = {
    21211: "invalid 'To' number",
    21408: "sending to this region is not enabled",
    21610: "the recipient replied STOP",
    21612: "this number cannot receive messages from the sender",
    21614: "'To' is not a mobile number",
    30003: "unreachable handset",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
}
TWILIO_UNREACHABLE = {21211, 21610, 21614, 30005, 30006}


class SmsError(Exception):
    def __init__(
        self, message: str, *, permanent: bool, unreachable: bool = False, ambiguous: bool = False
    ):
        super().__init__(message)
        self.permanent = permanent
        # The request reached the provider but no answer came back: it may have been sent.
        self.ambiguous = ambiguous
        # The number itself is bad (or opted out): suppress it like a hard-bounced address.
        self.unreachable = unreachable


class SmsBackend:
    def send(self, *, to: str, body: str, sender: str) -> str:
        """Send one SMS; returns the provider's message id. Raises SmsError."""
        raise NotImplementedError


class ConsoleSmsBackend(SmsBackend):
    def send(self, *, to: str, body: str, sender: str) -> str:
        message_id = f"console-{uuid.uuid4().hex[:12]}"
        logger.info("SMS from %s to %s: %s", sender or "-", to, body)
        return message_id


class FileSmsBackend(SmsBackend):
    """Appends one JSON line per SMS to AFTERSALE_SMS_FILE (default var/sms.jsonl)."""

    _lock = threading.Lock()

    def send(self, *, to: str, body: str, sender: str) -> str:
        path = Path(getattr(settings, "AFTERSALE_SMS_FILE", "") or settings.VAR_DIR / "sms.jsonl")
        message_id = f"file-{uuid.uuid4().hex[:12]}"
        line = {"id": message_id, "at": clock.now().isoformat(), "from": sender, "to": to}
        line["body"] = body
        with self._lock, path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return message_id


class LocmemSmsBackend(SmsBackend):
    """Keeps sent SMS in LocmemSmsBackend.outbox, for tests."""

    outbox: list[dict] = []

    def send(self, *, to: str, body: str, sender: str) -> str:
        message_id = f"locmem-{len(self.outbox) + 1}"
        self.outbox.append({"id": message_id, "to": to, "body": body, "from": sender})
        return message_id


class TwilioSmsBackend(SmsBackend):
    def __init__(self) -> None:
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.auth_token = settings.TWILIO_AUTH_TOKEN
        self.base = settings.TWILIO_API_BASE.rstrip("/")
        self.messaging_service_sid = getattr(settings, "TWILIO_MESSAGING_SERVICE_SID", "")

    def send(self, *, to: str, body: str, sender: str) -> str:
        if not self.account_sid or not self.auth_token:
            raise SmsError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set", permanent=True)
        form = {"To": to, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        elif sender:
            form["From"] = sender
        else:
            raise SmsError("no SMS sender configured for this store", permanent=True)
        url = f"{self.base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            response = httpx.post(
                url,
                data=form,
                auth=(self.account_sid, self.auth_token),
                timeout=settings.AFTERSALE_SMS_TIMEOUT_SECONDS,
                follow_redirects=False,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SmsError(f"Twilio unreachable: {exc}", permanent=False) from None
        except httpx.HTTPError as exc:
            raise SmsError(
                f"no answer from Twilio: {exc}", permanent=False, ambiguous=True
            ) from None
        if response.status_code in (200, 201):
            return response.json().get("sid", "")
        try:
            error = response.json()
        except ValueError:
            error = {}
        code = error.get("code")
        text = error.get("message") or response.text[:200]
        if response.status_code == 429 or response.status_code >= 500:
            raise SmsError(f"Twilio {response.status_code}: {text}", permanent=False)
        described = TWILIO_PERMANENT.get(code, "")
        raise SmsError(
            f"Twilio {response.status_code} error {code}: {text}"
            + (f" ({described})" if described else ""),
            permanent=True,
            unreachable=code in TWILIO_UNREACHABLE,
        )


def get_sms_backend() -> SmsBackend:
    return import_string(settings.AFTERSALE_SMS_BACKEND)()
