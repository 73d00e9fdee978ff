"""Writes to shipments and their tracking events."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Sum

from aftersale.core.events import emit
from aftersale.core.models import Store
from aftersale.core.services import DomainError, NotFound
from aftersale.orders.models import Order, OrderLine
from aftersale.orders.services import (
    order_aggregate,
    order_get,
    order_line_resolve,
    order_payload,
)
from aftersale.tracking.carriers import apply_detection
from aftersale.tracking.estimates import estimate_revise
from aftersale.tracking.models import Shipment, ShipmentLine, ShipmentStatus, TrackingEvent
from aftersale.tracking.schemas import ShipmentIn, TrackingEventIn

# Statuses after which a parcel's journey is over; a late scan of an earlier kind never undoes them.
FINAL_STATUSES = {
    ShipmentStatus.DELIVERED,
    ShipmentStatus.RETURNED_TO_SENDER,
    ShipmentStatus.CANCELLED,
    ShipmentStatus.EXPIRED,
}
# What may still follow "delivered": the parcel is sent back.
AFTER_DELIVERED = {ShipmentStatus.RETURNING_TO_SENDER, ShipmentStatus.RETURNED_TO_SENDER}

SHIPMENT_FIELDS = (
    "carrier",
    "service",
    "tracking_number",
    "tracking_url",
    "shipped_at",
    "promised_delivery_date",
    "delivered_at",
    "origin_postal_code",
    "origin_city",
    "origin_region",
    "origin_country",
)


@dataclass(frozen=True)
class ShipmentResult:
    shipment: Shipment
    created: bool
    changed: tuple[str, ...]
    events_added: int


def shipment_payload(shipment: Shipment) -> dict:
    return {
        "id": shipment.public_id,
        "external_id": shipment.external_id,
        "order_id": shipment.order.public_id,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "status": shipment.status,
        "shipped_at": shipment.shipped_at.isoformat() if shipment.shipped_at else None,
        "promised_delivery_date": (
            shipment.promised_delivery_date.isoformat() if shipment.promised_delivery_date else None
        ),
        "delivered_at": shipment.delivered_at.isoformat() if shipment.delivered_at else None,
    }


def shipment_get(*, store: Store, ref: str) -> Shipment:
    qs = Shipment.objects.filter(store=store).select_related("order")
    shipment = qs.filter(public_id=ref).first() if ref.startswith("shp_") else None
    if shipment is None:
        shipment = qs.filter(external_id=ref).order_by("id").first()
    if shipment is None:
        raise NotFound(f"no shipment {ref!r} in this store")
    return shipment


def _check_lines(order: Order, shipment: Shipment | None, data: ShipmentIn):
    resolved: list[tuple[OrderLine, int]] = []
    seen: set[int] = set()
    for index, item in enumerate(data.lines):
        line = order_line_resolve(order=order, ref=item.line, field=f"lines.{index}.line")
        if line.pk in seen:
            raise DomainError("each line may appear once", field=f"lines.{index}.line")
        seen.add(line.pk)
        elsewhere = ShipmentLine.objects.filter(order_line=line)
        if shipment is not None and shipment.pk:
            elsewhere = elsewhere.exclude(shipment=shipment)
        shipped = elsewhere.aggregate(n=Sum("quantity"))["n"] or 0
        if shipped + item.quantity > line.quantity:
            raise DomainError(
                f"line {item.line!r}: {line.quantity} ordered, {shipped} already in other "
                f"shipments, {item.quantity} asked",
                field=f"lines.{index}.quantity",
            )
        resolved.append((line, item.quantity))
    return resolved


def shipment_upsert(*, store: Store, data: ShipmentIn) -> ShipmentResult:
    """Create a shipment of an order, or update the one with the same (source, external_id).

    Emits shipment.created / shipment.updated, adds the tracking events sent with it, and keeps
    the order's fulfilment status in step with what has shipped.
    """
    try:
        order = order_get(store=store, ref=data.order)
    except NotFound:
        raise DomainError(f"no order {data.order!r} in this store", field="order") from None
    try:
        with transaction.atomic():
            return _shipment_upsert_locked(store, order, data)
    except IntegrityError:
        with transaction.atomic():
            return _shipment_upsert_locked(store, order, data)


def _shipment_upsert_locked(store: Store, order: Order, data: ShipmentIn) -> ShipmentResult:
    order = Order.objects.select_for_update().get(pk=order.pk)
    shipment = None
    if data.external_id:
        shipment = (
            Shipment.objects.select_for_update()
            .filter(store=store, source=data.source, external_id=data.external_id)
            .first()
        )
        if shipment is not None and shipment.order_id != order.pk:
            raise DomainError(
                f"shipment {data.external_id!r} belongs to another order", field="order"
            )
    lines = _check_lines(order, shipment, data)
    created = shipment is None
    if created:
        shipment = Shipment(
            store=store, order=order, source=data.source, external_id=data.external_id
        )
        address = order.shipping_address
        if address is not None:
            shipment.destination_postal_code = address.postal_code
            shipment.destination_city = address.city
            shipment.destination_region = address.region
            shipment.destination_country = address.country
    changed: list[str] = []
    provided = data.model_fields_set
    for field in SHIPMENT_FIELDS:
        if field not in provided and not created:
            continue
        value = getattr(data, field)
        if field == "tracking_url":
            value = str(value) if value else ""
        if value is None and field in {"carrier", "service", "tracking_number"}:
            value = ""
        if getattr(shipment, field) != value:
            setattr(shipment, field, value)
            changed.append(field)
    if created or {"tracking_number", "carrier"} & set(changed):
        shop_sent_url = bool(data.tracking_url) or (
            not created and bool(shipment.tracking_url) and "tracking_number" not in changed
        )
        changed.extend(apply_detection(shipment, shop_sent_url=shop_sent_url))
    if data.status and data.status != shipment.status and _may_move(shipment.status, data.status):
        shipment.status = data.status
        changed.append("status")
    if created or changed:
        shipment.save()
    if "lines" in provided or created:
        current = {sl.order_line_id: sl.quantity for sl in shipment.lines.all()}
        wanted = {line.pk: qty for line, qty in lines}
        if current != wanted:
            shipment.lines.all().delete()
            ShipmentLine.objects.bulk_create(
                [
                    ShipmentLine(shipment=shipment, order_line=line, quantity=qty)
                    for line, qty in lines
                ]
            )
            if not created:
                changed.append("lines")
    added, status_changed = _add_events(store, shipment, data.events)
    if status_changed:
        changed.append("status")
    if created or changed or added:
        why = "created" if created else "new scan" if added else "shipment changed"
        estimate_revise(store=store, shipment=shipment, reason=why)
    if created:
        emit(
            store=store,
            name="shipment.created",
            aggregate=order_aggregate(order),
            payload=shipment_payload(shipment),
        )
    elif changed:
        emit(
            store=store,
            name="shipment.updated",
            aggregate=order_aggregate(order),
            payload={**shipment_payload(shipment), "changed": sorted(set(changed))},
        )
    if created or changed or added:
        _check_issues(store, shipment)
    _sync_fulfillment(store, order)
    return ShipmentResult(
        shipment=shipment, created=created, changed=tuple(sorted(set(changed))), events_added=added
    )


def _may_move(current: str, new: str) -> bool:
    if current == ShipmentStatus.DELIVERED:
        return new in AFTER_DELIVERED
    return current not in FINAL_STATUSES or new in AFTER_DELIVERED


def event_fingerprint(event: TrackingEventIn) -> str:
    raw = "|".join(
        [
            event.occurred_at.isoformat(),
            event.raw_status,
            event.raw_text,
            event.location,
            event.status or "",
        ]
    )
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class _Added:
    """What storing a webhook's scans did: how many were new, whether the status moved, and the
    shipment's newest scan (by its own time) for the issue check, when it is known."""

    added: int = 0
    status_changed: bool = False
    latest: TrackingEvent | None = None
    latest_known: bool = False


# Columns read once per call: the fingerprints to skip repeats, the rest to derive the status and
# to hand the newest scan to the issue check without asking again.
_EVENT_COLUMNS = (
    "id",
    "fingerprint",
    "occurred_at",
    "status",
    "mapped",
    "reason",
    "raw_status",
    "raw_text",
    "location",
)


def _add_events(
    store: Store, shipment: Shipment, events: list[TrackingEventIn], source: str | None = None
):
    """Store new events (repeats are skipped); returns (added, shipment status changed).

    `source` names who reported them (a tracking provider); the shipment's source otherwise.
    """
    result = _store_events(store, shipment, events, source)
    return result.added, result.status_changed


def _store_events(
    store: Store, shipment: Shipment, events: list[TrackingEventIn], source: str | None = None
) -> _Added:
    """_add_events, also returning the newest scan. One SELECT reads the shipment's events (the
    caller holds its row lock), so the status and the newest scan are derived in Python from
    what was there plus what was added, in the same order the database would sort them."""
    if not events:
        return _Added()
    rows = list(TrackingEvent.objects.filter(shipment=shipment).values_list(*_EVENT_COLUMNS))
    known = {row[1] for row in rows}
    fresh: dict[str, TrackingEventIn] = {}
    for event in events:
        fp = event_fingerprint(event)
        if fp not in known:
            fresh.setdefault(fp, event)
    made = [
        TrackingEvent(
            store=store,
            shipment=shipment,
            occurred_at=e.occurred_at,
            status=e.status or "",
            raw_status=e.raw_status,
            raw_text=e.raw_text,
            location=e.location,
            reason=e.reason or "",
            mapped=e.mapped,
            source=source or shipment.source,
            fingerprint=fp,
        )
        for fp, e in fresh.items()
    ]
    TrackingEvent.objects.bulk_create(made)
    if not fresh:
        return _Added()
    # (id, occurred_at, status, mapped, row): new rows get ids after every existing one, in
    # insertion order, whether or not the backend returned them.
    top = max((row[0] for row in rows), default=0)
    evidence = [(row[0], row[2], row[3], row[4], row) for row in rows]
    evidence += [(top + 1 + i, e.occurred_at, e.status, e.mapped, e) for i, e in enumerate(made)]
    newest = max(evidence, key=lambda ev: (ev[1], ev[0]))[4]
    if not isinstance(newest, TrackingEvent):
        pk, _fp, occurred_at, status, _mapped, reason, raw_status, raw_text, location = newest
        newest = TrackingEvent(
            id=pk,
            shipment=shipment,
            occurred_at=occurred_at,
            status=status,
            reason=reason,
            raw_status=raw_status,
            raw_text=raw_text,
            location=location,
        )
    return _Added(
        added=len(fresh),
        status_changed=_derive_status(shipment, evidence),
        latest=newest,
        latest_known=True,
    )


def _derive_status(shipment: Shipment, evidence: list[tuple] | None = None) -> bool:
    """Status from the evidence: the latest event by its own time; "delivered" is sticky.

    An event whose code had no mapping (kept as in transit) counts only when no mapped one does.
    `evidence` is every event of the shipment as (id, occurred_at, status, mapped, …); read from
    the database when not given.
    """
    if evidence is None:
        evidence = list(
            TrackingEvent.objects.filter(shipment=shipment).values_list(
                "id", "occurred_at", "status", "mapped"
            )
        )
    with_status = [ev for ev in evidence if ev[2] != ""]
    # ORDER BY -mapped, -occurred_at, -id … first()
    latest = max(with_status, key=lambda ev: (ev[3], ev[1], ev[0]), default=None)
    # status = delivered ORDER BY occurred_at … first() (ties: any row, the time is the same)
    delivered = min(
        (ev for ev in with_status if ev[2] == ShipmentStatus.DELIVERED),
        key=lambda ev: (ev[1], ev[0]),
        default=None,
    )
    fields: list[str] = []
    if delivered is not None and shipment.delivered_at is None:
        shipment.delivered_at = delivered[1]
        fields.append("delivered_at")
    target = latest[2] if latest else shipment.status
    if delivered is not None and target not in AFTER_DELIVERED:
        target = ShipmentStatus.DELIVERED
    if target != shipment.status:
        shipment.status = target
        fields.append("status")
    if fields:
        shipment.save(update_fields=[*fields, "updated_at"])
    return "status" in fields


def tracking_events_add(
    *,
    store: Store,
    shipment: Shipment,
    events: list[TrackingEventIn],
    source: str | None = None,
    carrier_estimate: date | None = None,
) -> int:
    """Add carrier scans to a shipment; emits shipment.updated when its status moves.

    `source` (e.g. "easypost") is stored on the events; the shipment's source when not given.
    """
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().select_related("order").get(pk=shipment.pk)
        result = _store_events(store, shipment, events, source)
        if result.added:
            estimate_revise(
                store=store,
                shipment=shipment,
                reason="new scan",
                carrier_estimate=carrier_estimate,
            )
        if result.status_changed:
            emit(
                store=store,
                name="shipment.updated",
                aggregate=order_aggregate(shipment.order),
                payload={**shipment_payload(shipment), "changed": ["status"]},
            )
        if result.added:
            _check_issues(store, shipment, latest=result.latest, latest_known=result.latest_known)
    return result.added


def _sync_fulfillment(store: Store, order: Order) -> None:
    ordered = {
        line.pk: line.quantity
        for line in OrderLine.objects.filter(order=order, requires_shipping=True)
    }
    if not ordered:
        return
    shipped_rows = (
        ShipmentLine.objects.filter(order_line__order=order)
        .exclude(shipment__status=ShipmentStatus.CANCELLED)
        .values("order_line")
        .annotate(n=Sum("quantity"))
    )
    shipped = {row["order_line"]: row["n"] for row in shipped_rows}
    if not shipped:
        status = Order.FulfillmentStatus.UNFULFILLED
    elif all(shipped.get(pk, 0) >= qty for pk, qty in ordered.items()):
        status = Order.FulfillmentStatus.FULFILLED
    else:
        status = Order.FulfillmentStatus.PARTIAL
    if order.fulfillment_status != status:
        order.fulfillment_status = status
        order.save(update_fields=["fulfillment_status", "updated_at"])
        emit(
            store=store,
            name="order.updated",
            aggregate=order_aggregate(order),
            payload={**order_payload(order), "changed": ["fulfillment_status"]},
        )


def _check_issues(
    store: Store,
    shipment: Shipment,
    *,
    latest: TrackingEvent | None = None,
    latest_known: bool = False,
) -> None:
    """Raise or resolve the shipment's issues (late, exception …) in the caller's transaction.

    `latest` is the shipment's newest scan when the caller has it (`latest_known`)."""
    from aftersale.tracking.issues import shipment_issues_check  # issues.py builds on this module

    if latest_known:
        shipment_issues_check(store=store, shipment=shipment, latest=latest)
    else:
        shipment_issues_check(store=store, shipment=shipment)
