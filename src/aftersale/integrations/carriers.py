"""Tracking webhooks from EasyPost, AfterShip, Shippo, Karrio and aftersale's own format.

Verify, store, answer, then work (as for shop webhooks, see services.py): the receiver checks
the provider's signature on the raw body, stores the body as an InboundPayload (platform = the
provider, unique by the provider's event id or else by the body's hash) and queues a task; the
task maps the body with the pure mapper of tracking.providers and adds the events to the store's
shipment(s) with that tracking number through tracking.services.tracking_events_add (repeats are
dropped by fingerprint; "delivered" is never undone by a late scan).

Secrets, per store and provider, come from settings.AFTERSALE_CARRIER_WEBHOOK_SECRETS
({"<store slug>": {"easypost": "…", "aftership": "…", …}}); no secret, no delivery accepted.

How each provider proves a delivery is its own:
- EasyPost: `X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(secret, body)>`; the secret is
  NFKD-normalised first, as EasyPost's client libraries do.
- AfterShip: `aftership-hmac-sha256: <base64 HMAC-SHA256(secret, body)>`.
- Shippo: no signature; the webhook URL carries `?token=<secret>`.
- Karrio: its server sends the webhook's secret as `X-Event-Id` and signs nothing; its docs
  describe `X-Karrio-Signature` (hex HMAC-SHA256 of the body). Either is accepted, or `?token=`.
- generic: `X-Aftersale-Signature: <hex HMAC-SHA256(secret, body)>`.
All comparisons are constant time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django_tasks import task

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.core.signing import verify_base64_hmac
from aftersale.integrations.models import InboundPayload
from aftersale.integrations.services import (
    Receipt,
    delivery_key,
    json_object,
    record_payload_failure,
)
from aftersale.tracking.models import Shipment
from aftersale.tracking.providers import MAPPERS, TrackingUpdate
from aftersale.tracking.schemas import TrackingEventIn
from aftersale.tracking.services import tracking_events_add

logger = logging.getLogger(__name__)

Status = InboundPayload.Status

# Errors that retrying cannot fix: the body does not map. The payload is marked failed.
PERMANENT_ERRORS = (DomainError, ValueError, KeyError, TypeError, AttributeError)


def carrier_secret(store: Store, provider: str) -> str:
    """The store's secret for the provider (back office), else the installation's setting."""
    value = (store.carrier_webhook_secrets or {}).get(provider, "")
    if not value:
        secrets = getattr(settings, "AFTERSALE_CARRIER_WEBHOOK_SECRETS", {}) or {}
        value = (secrets.get(store.slug) or {}).get(provider, "")
    return value if isinstance(value, str) else ""


# -- verification ---------------------------------------------------------------------------------


def _hmac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def _same(expected: str, received: str | None) -> bool:
    if not received:
        return False
    return hmac.compare_digest(expected.encode(), received.strip().encode("utf-8", "replace"))


def _token_ok(secret: str, query: dict[str, str]) -> bool:
    return _same(secret, query.get("token"))


def verify_easypost(secret: str, body: bytes, headers, query) -> bool:
    normalized = unicodedata.normalize("NFKD", secret)
    expected = "hmac-sha256-hex=" + _hmac(normalized, body).hex()
    return _same(expected, headers.get("X-Hmac-Signature"))


def verify_aftership(secret: str, body: bytes, headers, query) -> bool:
    return verify_base64_hmac(secret, body, headers.get("aftership-hmac-sha256"))


def verify_shippo(secret: str, body: bytes, headers, query) -> bool:
    return _token_ok(secret, query)


def verify_karrio(secret: str, body: bytes, headers, query) -> bool:
    signature = headers.get("X-Karrio-Signature")
    if signature:
        received = signature.strip().removeprefix("sha256=")
        return _same(_hmac(secret, body).hex(), received)
    return _same(secret, headers.get("X-Event-Id")) or _token_ok(secret, query)


def verify_generic(secret: str, body: bytes, headers, query) -> bool:
    return _same(_hmac(secret, body).hex(), headers.get("X-Aftersale-Signature"))


# -- what each provider's body says about itself --------------------------------------------------


def _easypost_meta(raw: dict) -> tuple[str, str | None]:
    return str(raw.get("description") or ""), (str(raw["id"]) if raw.get("id") else None)


def _aftership_meta(raw: dict) -> tuple[str, str | None]:
    event_id = raw.get("event_id")
    return str(raw.get("event") or ""), (str(event_id) if event_id else None)


def _event_meta(raw: dict) -> tuple[str, str | None]:
    # Shippo and Karrio send no event id: the body's hash identifies the delivery.
    return str(raw.get("event") or ""), None


def _generic_meta(raw: dict) -> tuple[str, str | None]:
    return "tracking.events", None


@dataclass(frozen=True)
class CarrierReceiver:
    provider: str
    verify: Callable[..., bool]
    refusal: str  # what a 401 says is missing or wrong
    meta: Callable[[dict], tuple[str, str | None]]  # (topic, delivery id)
    topics: frozenset[str]  # topics that carry tracking; others are stored as ignored
    kept_headers: tuple[str, ...] = ()


RECEIVERS: dict[str, CarrierReceiver] = {
    r.provider: r
    for r in (
        CarrierReceiver(
            "easypost",
            verify_easypost,
            "X-Hmac-Signature is missing or does not match the body",
            _easypost_meta,
            frozenset({"tracker.created", "tracker.updated"}),
            ("X-Timestamp", "X-Path", "User-Agent"),
        ),
        CarrierReceiver(
            "aftership",
            verify_aftership,
            "aftership-hmac-sha256 is missing or does not match the body",
            _aftership_meta,
            frozenset({"tracking_update"}),
            ("User-Agent",),
        ),
        CarrierReceiver(
            "shippo",
            verify_shippo,
            "the token in the URL is missing or wrong",
            _event_meta,
            frozenset({"track_updated"}),
            ("User-Agent",),
        ),
        CarrierReceiver(
            "karrio",
            verify_karrio,
            "X-Karrio-Signature, X-Event-Id or the URL token is missing or wrong",
            _event_meta,
            frozenset({"tracker_updated", "tracker.updated", "tracker_created", "tracker.created"}),
            ("User-Agent",),
        ),
        CarrierReceiver(
            "generic",
            verify_generic,
            "X-Aftersale-Signature is missing or does not match the body",
            _generic_meta,
            frozenset({"tracking.events"}),
        ),
    )
}


# -- receiving ------------------------------------------------------------------------------------


def carrier_verify(*, store: Store, provider: str, body: bytes, headers, query) -> bool:
    """Whether the delivery proves it comes from the provider; a store without a secret: never."""
    secret = carrier_secret(store, provider)
    return bool(secret) and RECEIVERS[provider].verify(secret, body, headers, query)


def carrier_receive(
    *, store: Store, provider: str, body: bytes, headers: dict[str, str]
) -> Receipt:
    """Store a verified delivery and queue its processing; a repeated delivery stores nothing.

    Raises DomainError (field "body") when the body is not a JSON object.
    """
    spec = RECEIVERS[provider]
    raw = json_object(body)
    topic, delivery_id = spec.meta(raw)
    delivery_id = delivery_key(delivery_id, body)
    acted_on = topic in spec.topics
    tracking_number = _tracking_number_hint(provider, raw) if acted_on else ""
    try:
        with transaction.atomic():
            payload = InboundPayload.objects.create(
                store=store,
                # Not one of Platform's choices (adding one would need a migration); the column
                # takes any short string and the admin shows it as it is.
                platform=provider,
                topic=topic[:100] or "(none)",
                delivery_id=delivery_id,
                external_id=tracking_number,
                object_ref=f"tracking:{provider}:{tracking_number}"[:140]
                if tracking_number
                else "",
                headers=headers,
                body=body.decode("utf-8"),
                status=Status.RECEIVED if acted_on else Status.IGNORED,
                received_at=clock.now(),
            )
            if acted_on:
                process_carrier_payload.enqueue(payload_id=payload.pk)
    except IntegrityError:
        return Receipt(outcome="duplicate", payload=None)
    return Receipt(outcome="accepted" if acted_on else "ignored", payload=payload)


def _tracking_number_hint(provider: str, raw: dict) -> str:
    """The tracking number, for the admin's search; "" when the body does not map."""
    try:
        return MAPPERS[provider](raw).tracking_number[:100]
    except PERMANENT_ERRORS:
        return ""


# -- processing -----------------------------------------------------------------------------------


def _comparable(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def carrier_shipments(*, store: Store, update: TrackingUpdate) -> list[Shipment]:
    """The store's shipments with this tracking number; by carrier too when that is ambiguous."""
    shipments = list(
        Shipment.objects.filter(store=store, tracking_number=update.tracking_number).order_by("id")
    )
    carrier = _comparable(update.carrier)
    if len(shipments) > 1 and carrier:
        # The carrier as the shop typed it first, then the one detected from the number.
        by_name = [s for s in shipments if _comparable(s.carrier) == carrier]
        by_code = [s for s in shipments if _comparable(s.carrier_code) == carrier]
        shipments = by_name or by_code or shipments
    return shipments


def _events_in(update: TrackingUpdate) -> list[TrackingEventIn]:
    return [
        TrackingEventIn(
            occurred_at=e.occurred_at,
            status=e.status,
            reason=e.reason or None,
            raw_status=e.raw_status,
            raw_text=e.raw_text,
            location=e.location,
            mapped=e.mapped,
        )
        for e in update.events
    ]


def carrier_process(*, payload_id: int, force: bool = False) -> str:
    """Map one stored tracking payload and add its events; returns the payload's new status.

    "waiting" when no shipment of the store has the tracking number yet (with the reason in
    last_error; not retried: providers resend the whole history with the next update, and a
    replay applies it). A body that does not map is "failed". An unexpected error is "failed"
    and raised, so that the worker retries.
    """
    try:
        with transaction.atomic():
            payload = (
                InboundPayload.objects.select_for_update()
                .select_related("store")
                .filter(pk=payload_id)
                .first()
            )
            if payload is None:
                return "missing"
            if not force and payload.status in (Status.PROCESSED, Status.IGNORED):
                return payload.status
            spec = RECEIVERS.get(payload.platform)
            if spec is None:
                raise ValueError(f"{payload.platform!r} is not a tracking provider")
            note = ""
            if payload.topic not in spec.topics:
                payload.status = Status.IGNORED
            else:
                update = MAPPERS[payload.platform](json.loads(payload.body))
                shipments = carrier_shipments(store=payload.store, update=update)
                if not shipments:
                    payload.status = Status.WAITING
                    note = (
                        f"no shipment with tracking number {update.tracking_number!r} "
                        "in this store yet"
                    )
                else:
                    events = _events_in(update)
                    for shipment in shipments:
                        tracking_events_add(
                            store=payload.store,
                            shipment=shipment,
                            events=events,
                            source=payload.platform,
                            carrier_estimate=update.estimated_delivery,
                        )
                    payload.status = Status.PROCESSED
            payload.attempts += 1
            payload.last_error = note
            payload.processed_at = clock.now()
            payload.save(update_fields=["status", "attempts", "last_error", "processed_at"])
            return payload.status
    except PERMANENT_ERRORS as exc:
        record_payload_failure(payload_id, Status.FAILED, exc)
        logger.warning("carrier payload %s failed: %s", payload_id, exc)
        return Status.FAILED
    except Exception as exc:
        record_payload_failure(payload_id, Status.FAILED, exc)
        raise


@task(queue_name="inbound")
def process_carrier_payload(payload_id: int, force: bool = False) -> str:
    return carrier_process(payload_id=payload_id, force=force)
