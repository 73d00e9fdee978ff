"""Inbound shop webhooks: store the raw delivery, then map it onto our services in a task.

Receiving is fast and does no mapping: the raw body is stored (unique by the sender's delivery
id) and a task is enqueued in the same transaction, so a delivery is never stored without its
task nor queued without its row. Processing is idempotent (every write is an upsert keyed by the
platform's ids), which makes worker retries and admin replays safe.

Webhooks arrive in any order. A payload that refers to something not here yet (a fulfillment
before its order) is marked "waiting" and its task fails, so the worker retries it with backoff;
when a payload about the same object is processed later, the waiting ones are queued again, so
they also complete after the worker's retries have run out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.customers.services import customer_upsert
from aftersale.integrations import mapping_shopify as shopify
from aftersale.integrations import mapping_woocommerce as woo
from aftersale.integrations import tasks
from aftersale.integrations.mapping_common import BodyRef
from aftersale.integrations.models import InboundPayload, Platform
from aftersale.orders.models import Order
from aftersale.orders.services import order_cancel, order_upsert, refund_create
from aftersale.tracking.models import Shipment
from aftersale.tracking.services import shipment_upsert, tracking_events_add

logger = logging.getLogger(__name__)

Status = InboundPayload.Status


class NotReadyYet(Exception):
    """The payload refers to something that has not arrived yet; processing is retried."""


# Errors that retrying cannot fix: the payload does not map, or our services refuse it. The
# payload is marked failed with the reason and can be replayed once the cause is fixed.
PERMANENT_ERRORS = (DomainError, ValueError, KeyError, TypeError, ArithmeticError)


# -- processing, one function per kind of body ------------------------------------------------


def _order_or_wait(store: Store, source: str, external_id: str) -> Order:
    order = Order.objects.filter(store=store, source=source, external_id=external_id).first()
    if order is None:
        raise NotReadyYet(f"{source} order {external_id} has not arrived yet")
    return order


def _shopify_order(store: Store, raw: dict) -> None:
    order_upsert(store=store, data=shopify.map_order(raw))


def _shopify_fulfillment(store: Store, raw: dict) -> None:
    data = shopify.map_fulfillment(raw)
    order = _order_or_wait(store, shopify.SOURCE, data.order)
    shipment_upsert(store=store, data=data.model_copy(update={"order": order.public_id}))


def _shopify_fulfillment_event(store: Store, raw: dict) -> None:
    mapped = shopify.map_fulfillment_event(raw)
    shipment = Shipment.objects.filter(
        store=store, source=shopify.SOURCE, external_id=mapped.fulfillment_external_id
    ).first()
    if shipment is None:
        raise NotReadyYet(
            f"shopify fulfillment {mapped.fulfillment_external_id} of order "
            f"{mapped.order_external_id} has not arrived yet"
        )
    tracking_events_add(store=store, shipment=shipment, events=[mapped.event])


def _shopify_refund(store: Store, raw: dict) -> None:
    mapped = shopify.map_refund(raw)
    order = _order_or_wait(store, shopify.SOURCE, mapped.order_external_id)
    if mapped.refund.amount is None:
        # Only restocking, no money moved: nothing for our refund ledger.
        return
    refund_create(store=store, order=order, data=mapped.refund)


def _shopify_customer(store: Store, raw: dict) -> None:
    customer_upsert(store=store, data=shopify.map_customer(raw), source=shopify.SOURCE)


def _woo_order(store: Store, raw: dict) -> None:
    result = order_upsert(store=store, data=woo.map_order(raw))
    for refund in woo.map_refunds(raw):
        refund_create(store=store, order=result.order, data=refund)


def _woo_order_deleted(store: Store, raw: dict) -> None:
    order = Order.objects.filter(store=store, source=woo.SOURCE, external_id=str(raw["id"])).first()
    if order is not None:
        order_cancel(store=store, order=order, reason="deleted in WooCommerce")


def _woo_customer(store: Store, raw: dict) -> None:
    customer_upsert(store=store, data=woo.map_customer(raw), source=woo.SOURCE)


Handler = Callable[[Store, dict], None]

# Topics we act on. Any other topic is answered 200 and stored as "ignored": both platforms
# retry non-2xx answers and eventually disable the subscription, and a stored row shows the
# merchant which extra topics their shop is sending.
HANDLERS: dict[tuple[str, str], Handler] = {
    (Platform.SHOPIFY, "orders/create"): _shopify_order,
    (Platform.SHOPIFY, "orders/updated"): _shopify_order,
    (Platform.SHOPIFY, "orders/cancelled"): _shopify_order,
    (Platform.SHOPIFY, "orders/paid"): _shopify_order,
    (Platform.SHOPIFY, "orders/fulfilled"): _shopify_order,
    (Platform.SHOPIFY, "orders/partially_fulfilled"): _shopify_order,
    (Platform.SHOPIFY, "fulfillments/create"): _shopify_fulfillment,
    (Platform.SHOPIFY, "fulfillments/update"): _shopify_fulfillment,
    (Platform.SHOPIFY, "fulfillment_events/create"): _shopify_fulfillment_event,
    (Platform.SHOPIFY, "refunds/create"): _shopify_refund,
    (Platform.SHOPIFY, "customers/create"): _shopify_customer,
    (Platform.SHOPIFY, "customers/update"): _shopify_customer,
    (Platform.WOOCOMMERCE, "order.created"): _woo_order,
    (Platform.WOOCOMMERCE, "order.updated"): _woo_order,
    (Platform.WOOCOMMERCE, "order.restored"): _woo_order,
    (Platform.WOOCOMMERCE, "order.deleted"): _woo_order_deleted,
    (Platform.WOOCOMMERCE, "customer.created"): _woo_customer,
    (Platform.WOOCOMMERCE, "customer.updated"): _woo_customer,
}

# Handlers whose body is the whole object as of its updated_at: an older version arriving after
# a newer one was applied (webhooks are unordered; a replay) is skipped as stale.
SNAPSHOT_HANDLERS = {_shopify_order, _shopify_customer, _woo_order, _woo_customer}

BODY_REFS: dict[str, Callable[[str, dict], BodyRef]] = {
    Platform.SHOPIFY: shopify.body_ref,
    Platform.WOOCOMMERCE: woo.body_ref,
}


# -- receiving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    outcome: str  # "accepted", "ignored" (stored, not acted on) or "duplicate" (nothing stored)
    payload: InboundPayload | None


def json_object(body: bytes) -> dict:
    """The body as a JSON object, or DomainError on field "body"."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DomainError("the body is not JSON", field="body") from None
    if not isinstance(raw, dict):
        raise DomainError("the body is not a JSON object", field="body")
    return raw


def delivery_key(delivery_id: str | None, body: bytes) -> str:
    """The sender's delivery id; without one, the same body twice is the same delivery."""
    if not delivery_id or len(delivery_id) > 100:
        return "sha256:" + hashlib.sha256(body).hexdigest()[:64]
    return delivery_id


def inbound_receive(
    *,
    store: Store,
    platform: str,
    topic: str,
    delivery_id: str | None,
    body: bytes,
    headers: dict[str, str],
) -> Receipt:
    """Store a verified delivery and queue its processing; a repeated delivery id stores nothing.

    Raises DomainError (field "body") when the body is not a JSON object.
    """
    raw = json_object(body)
    delivery_id = delivery_key(delivery_id, body)
    topic = topic[:100]
    handler = HANDLERS.get((platform, topic))
    ref = BODY_REFS[platform](topic, raw)
    try:
        with transaction.atomic():
            payload = InboundPayload.objects.create(
                store=store,
                platform=platform,
                topic=topic,
                delivery_id=delivery_id,
                external_id=ref.external_id,
                object_ref=ref.object_ref,
                source_updated_at=ref.updated_at,
                headers=headers,
                body=body.decode("utf-8"),
                status=Status.RECEIVED if handler else Status.IGNORED,
                received_at=clock.now(),
            )
            if handler is not None:
                tasks.process_inbound_payload.enqueue(payload_id=payload.pk)
    except IntegrityError:
        return Receipt(outcome="duplicate", payload=None)
    return Receipt(outcome="accepted" if handler else "ignored", payload=payload)


# -- processing -----------------------------------------------------------------------------------


def inbound_process(*, payload_id: int, force: bool = False) -> str:
    """Map one stored payload onto our services; returns the payload's new status.

    A payload already processed or ignored is skipped unless `force` (a replay); a version of an
    order or customer older than one already applied is marked stale and changes nothing. Raises
    NotReadyYet (status "waiting") or an unexpected error (status "failed") so that the worker
    retries; a permanent error marks the payload failed and returns.
    """
    from aftersale.integrations.carriers import RECEIVERS, carrier_process  # builds on this module

    platform = InboundPayload.objects.filter(pk=payload_id).values_list("platform", flat=True)
    if platform.first() in RECEIVERS:  # a tracking provider's payload (replayed from the admin)
        return carrier_process(payload_id=payload_id, force=force)
    try:
        with transaction.atomic():
            payload = (
                InboundPayload.objects.select_for_update()
                .select_related("store")
                .filter(pk=payload_id)
                .first()
            )
            if payload is None:
                return "missing"  # purged since it was queued
            if not force and payload.status in (Status.PROCESSED, Status.IGNORED, Status.STALE):
                return payload.status
            handler = HANDLERS.get((payload.platform, payload.topic))
            if handler is None:
                payload.status = Status.IGNORED
            elif _superseded(payload, handler):
                payload.status = Status.STALE
            else:
                handler(payload.store, json.loads(payload.body))
                payload.status = Status.PROCESSED
            payload.attempts += 1
            payload.last_error = ""
            payload.processed_at = clock.now()
            payload.save(update_fields=["status", "attempts", "last_error", "processed_at"])
            if payload.status == Status.PROCESSED:
                _wake_waiting(payload)
            return payload.status
    except NotReadyYet as exc:
        record_payload_failure(payload_id, Status.WAITING, exc)
        raise
    except PERMANENT_ERRORS as exc:
        record_payload_failure(payload_id, Status.FAILED, exc)
        logger.warning("inbound payload %s failed: %s", payload_id, exc)
        return Status.FAILED
    except Exception as exc:
        record_payload_failure(payload_id, Status.FAILED, exc)
        raise


def _superseded(payload: InboundPayload, handler: Handler) -> bool:
    if handler not in SNAPSHOT_HANDLERS or payload.source_updated_at is None:
        return False
    same_kind = [t for (p, t), h in HANDLERS.items() if p == payload.platform and h is handler]
    return InboundPayload.objects.filter(
        store=payload.store,
        platform=payload.platform,
        object_ref=payload.object_ref,
        topic__in=same_kind,
        status=Status.PROCESSED,
        source_updated_at__gt=payload.source_updated_at,
    ).exists()


def record_payload_failure(payload_id: int, status: str, exc: Exception) -> None:
    InboundPayload.objects.filter(pk=payload_id).update(
        status=status,
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:4000],
    )


def _wake_waiting(payload: InboundPayload) -> None:
    if not payload.object_ref:
        return
    waiting = (
        InboundPayload.objects.filter(
            store=payload.store, object_ref=payload.object_ref, status=Status.WAITING
        )
        .exclude(pk=payload.pk)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    for pk in waiting:
        tasks.process_inbound_payload.enqueue(payload_id=pk)


# -- operations -----------------------------------------------------------------------------------


def inbound_replay(*, payloads: QuerySet[InboundPayload]) -> int:
    """Queue the payloads to be processed again, whatever their status; returns how many.

    Statuses stay as they are until the replay runs: a processed order version is what tells a
    replayed older one that it is stale.
    """
    with transaction.atomic():
        ids = list(payloads.order_by("id").values_list("pk", flat=True))
        for pk in ids:
            tasks.process_inbound_payload.enqueue(payload_id=pk, force=True)
    return len(ids)


def inbound_purge(*, now: datetime | None = None) -> int:
    """Delete processed, ignored and stale payloads older than the retention; returns how many.

    Waiting and failed payloads are kept whatever their age: they still need someone.
    """
    cutoff = (now or clock.now()) - timedelta(days=settings.AFTERSALE_INBOUND_RETENTION_DAYS)
    deleted, _ = InboundPayload.objects.filter(
        status__in=[Status.PROCESSED, Status.IGNORED, Status.STALE], received_at__lt=cutoff
    ).delete()
    return deleted
