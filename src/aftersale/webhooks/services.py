"""Outbound webhooks: endpoints, fan-out of events into deliveries, signed sending with retries."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F

from aftersale.core import clock
from aftersale.core.events import batch_memo
from aftersale.core.models import OutboxEvent, Store, StoreAlert
from aftersale.core.outbound import check_outbound_url
from aftersale.core.services import DomainError, NotFound
from aftersale.core.signing import SIGNATURE_HEADER, sign_outbound
from aftersale.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_endpoint_secret,
)

logger = logging.getLogger(__name__)

# Delay before attempt n+1 after attempt n failed.
BACKOFF = [timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 10800, 21600, 43200)]
EVENT_PATTERN = re.compile(r"^[a-z_*]+(\.[a-z_*]+)*$")
RESPONSE_EXCERPT_BYTES = 2000


# -- endpoints ------------------------------------------------------------------------------


def check_endpoint_url(url: str) -> str:
    """HTTPS to a public address, unless this installation allows otherwise (tests, intranets)."""
    return check_outbound_url(url)


def check_event_types(event_types: list[str]) -> list[str]:
    if not event_types:
        raise DomainError(
            "subscribe to at least one event type, e.g. order.* or *", field="event_types"
        )
    for index, pattern in enumerate(event_types):
        if not EVENT_PATTERN.match(pattern):
            raise DomainError(
                f"{pattern!r} is not an event type or pattern such as order.*",
                field=f"event_types.{index}",
            )
    return sorted(set(event_types))


def endpoint_get(*, store: Store, ref: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(store=store, public_id=ref).first()
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {ref!r} in this store")
    return endpoint


def endpoint_create(
    *, store: Store, url: str, event_types: list[str], description: str = ""
) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        store=store,
        url=check_endpoint_url(url),
        event_types=check_event_types(event_types),
        description=description,
    )


def endpoint_update(*, store: Store, endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    if "url" in changes:
        endpoint.url = check_endpoint_url(changes["url"])
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    endpoint.save()
    if changes.get("active") is True and not endpoint.active:
        endpoint_enable(store=store, endpoint=endpoint)
    elif changes.get("active") is False and endpoint.active:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=False, disabled_at=clock.now(), disabled_reason="switched off by the merchant"
        )
        endpoint.refresh_from_db()
    return endpoint


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.secret = new_endpoint_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def endpoint_enable(*, store: Store, endpoint: WebhookEndpoint) -> int:
    """Switch an endpoint back on and send what waited meanwhile; returns deliveries queued."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=True, disabled_at=None, disabled_reason="", failure_streak=0
        )
        StoreAlert.objects.filter(
            store=store,
            kind="webhook_endpoint_disabled",
            subject=endpoint.public_id,
            resolved_at__isnull=True,
        ).update(resolved_at=clock.now())
        waiting = list(
            WebhookDelivery.objects.filter(
                endpoint=endpoint,
                status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
            ).values_list("pk", "attempts")
        )
        for pk, attempts in waiting:
            _enqueue(pk, attempts + 1)
    endpoint.refresh_from_db()
    return len(waiting)


# -- fan-out --------------------------------------------------------------------------------


def fan_out(event: OutboxEvent) -> int:
    """One delivery per interested active endpoint; runs inside the dispatcher's savepoint."""
    created = 0
    # Read once per dispatch batch and store (most stores have none).
    endpoints = batch_memo(
        ("webhooks.endpoints", event.store_id),
        lambda: list(WebhookEndpoint.objects.filter(store_id=event.store_id, active=True)),
    )
    for endpoint in endpoints:
        if not endpoint.wants(event.name):
            continue
        delivery, made = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint, event=event, replay_of=None, defaults={"store_id": event.store_id}
        )
        if made:
            _enqueue(delivery.pk, 1)
            created += 1
    return created


def _enqueue(delivery_id: int, attempt: int, run_after=None) -> None:
    from aftersale.webhooks.tasks import deliver_webhook  # the task module imports services

    task = deliver_webhook.using(run_after=run_after) if run_after else deliver_webhook
    task.enqueue(delivery_id=delivery_id, attempt=attempt)


def delivery_replay(*, store: Store, delivery: WebhookDelivery) -> WebhookDelivery:
    with transaction.atomic():
        replay = WebhookDelivery.objects.create(
            store=store,
            endpoint=delivery.endpoint,
            event=delivery.event,
            replay_of=delivery.replay_of or delivery,
        )
        _enqueue(replay.pk, 1)
    return replay


def endpoint_send_test(*, store: Store, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` event for this endpoint alone (never fanned out to others)."""
    with transaction.atomic():
        event = OutboxEvent.objects.create(
            store=store,
            name="webhook.test",
            aggregate=f"webhook_endpoint:{endpoint.public_id}",
            payload={"message": "This is a test delivery from aftersale."},
            dispatched_at=clock.now(),
        )
        delivery = WebhookDelivery.objects.create(store=store, endpoint=endpoint, event=event)
        _enqueue(delivery.pk, 1)
    return delivery


# -- sending --------------------------------------------------------------------------------


def delivery_body(delivery: WebhookDelivery) -> bytes:
    event = delivery.event
    document = {
        "id": event.public_id,
        "type": event.name,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "store": delivery.store.slug,
        "data": event.payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    duration_ms: int
    excerpt: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _send(delivery: WebhookDelivery) -> SendResult:
    endpoint = delivery.endpoint
    body = delivery_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aftersale-webhooks/1",
        "Aftersale-Event-Id": delivery.event.public_id,
        "Aftersale-Event-Type": delivery.event.name,
        "Aftersale-Delivery-Id": delivery.public_id,
        SIGNATURE_HEADER: sign_outbound(endpoint.secret, body),
    }
    started = time.perf_counter()
    try:
        check_endpoint_url(endpoint.url)
        with httpx.Client(
            timeout=settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            response = client.post(endpoint.url, content=body, headers=headers)
        excerpt = response.content[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
        error = "" if response.is_success else f"HTTP {response.status_code}"
        return SendResult(response.status_code, _ms(started), excerpt, error)
    except DomainError as exc:
        return SendResult(None, _ms(started), "", f"refused: {exc.message}")
    except httpx.TimeoutException:
        return SendResult(
            None, _ms(started), "", f"timed out after {settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS}s"
        )
    except httpx.HTTPError as exc:
        return SendResult(None, _ms(started), "", f"{type(exc).__name__}: {exc}")


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def deliver(*, delivery_id: int, attempt: int) -> str:
    """Send attempt number `attempt` of a delivery. Safe to run twice: the second run of the
    same attempt is skipped, unless the first one died without recording its outcome."""
    now = clock.now()
    stale = now - timedelta(seconds=settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS + 60)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint", "event", "store")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in {
            WebhookDelivery.Status.SUCCEEDED,
            WebhookDelivery.Status.DEAD,
        }:
            return "done already"
        if not delivery.endpoint.active:
            return "endpoint disabled"
        if delivery.attempts > attempt:
            return "superseded"
        if delivery.attempts == attempt and not (
            delivery.claimed_at
            and delivery.claimed_at < stale
            and not delivery.attempt_log.filter(attempted_at__gte=delivery.claimed_at).exists()
        ):
            return "sent already"
        delivery.attempts = attempt
        delivery.claimed_at = now
        delivery.save(update_fields=["attempts", "claimed_at"])

    result = _send(delivery)  # outside any transaction: never hold a lock over the network

    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            response_excerpt=result.excerpt,
            error=result.error,
        )
        delivery.last_status_code = result.status_code
        if result.ok:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.finished_at = clock.now()
            delivery.next_attempt_at = None
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(failure_streak=0)
        else:
            _after_failure(delivery, attempt, result)
        delivery.save(
            update_fields=["status", "finished_at", "next_attempt_at", "last_status_code"]
        )
    return "succeeded" if result.ok else f"failed: {result.error}"


def _after_failure(delivery: WebhookDelivery, attempt: int, result: SendResult) -> None:
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
        failure_streak=F("failure_streak") + 1
    )
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    limit = settings.AFTERSALE_WEBHOOK_DISABLE_AFTER_FAILURES
    if endpoint.active and endpoint.failure_streak >= limit:
        reason = f"{endpoint.failure_streak} failed attempts in a row; last: {result.error}"
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=False, disabled_at=clock.now(), disabled_reason=reason[:300]
        )
        StoreAlert.objects.create(
            store_id=delivery.store_id,
            level=StoreAlert.Level.ERROR,
            kind="webhook_endpoint_disabled",
            subject=endpoint.public_id,
            message=f"Webhook endpoint {endpoint.url} was switched off after {reason}. "
            "Fix the receiver, then enable the endpoint again: waiting deliveries "
            "are sent then.",
        )
    if attempt >= settings.AFTERSALE_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.DEAD
        delivery.finished_at = clock.now()
        delivery.next_attempt_at = None
        return
    delay = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
    delivery.status = WebhookDelivery.Status.FAILED
    delivery.next_attempt_at = clock.now() + delay
    _enqueue(delivery.pk, attempt + 1, run_after=delivery.next_attempt_at)
