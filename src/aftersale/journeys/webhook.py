"""The webhook step: a signed JSON POST to the merchant, the same way outbound webhooks are sent
(core/signing.py, explicit timeout, no redirects, private addresses refused), without importing
the webhooks app, which sits in the same layer."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from aftersale.core.services import DomainError
from aftersale.core.signing import SIGNATURE_HEADER, sign_outbound

RESPONSE_EXCERPT_BYTES = 500


def _is_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False  # unresolvable now; sending fails and is retried
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            return True
    return False


def check_url(url: str) -> str:
    """HTTPS to a public address, unless the installation allows otherwise (tests, intranets)."""
    parts = urlsplit(url)
    allow_private = settings.AFTERSALE_WEBHOOK_ALLOW_PRIVATE
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise DomainError("the URL must be an absolute https:// address", field="url")
    if parts.scheme != "https" and not (settings.DEBUG or allow_private):
        raise DomainError("webhook URLs must use https://", field="url")
    if parts.username or parts.password:
        raise DomainError("put no credentials in the URL; check the signature instead", field="url")
    if not allow_private and _is_private(parts.hostname):
        raise DomainError("the URL points to a private or local address", field="url")
    return url


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    excerpt: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_signed(*, url: str, secret: str, document: dict, idempotency_key: str) -> PostResult:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aftersale-journeys/1",
        "Idempotency-Key": idempotency_key,
        SIGNATURE_HEADER: sign_outbound(secret, body, int(time.time())),
    }
    try:
        check_url(url)
        with httpx.Client(
            timeout=settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            response = client.post(url, content=body, headers=headers)
    except DomainError as exc:
        return PostResult(None, f"refused: {exc.message}", "")
    except httpx.TimeoutException:
        return PostResult(
            None, f"timed out after {settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS}s", ""
        )
    except httpx.HTTPError as exc:
        return PostResult(None, f"{type(exc).__name__}: {exc}", "")
    excerpt = response.content[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return PostResult(response.status_code, error, excerpt)
