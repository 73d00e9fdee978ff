from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Prefetch, QuerySet

from aftersale.core.models import Store
from aftersale.tracking.models import Shipment, ShipmentLine, TrackingEvent


def shipment_detail_queryset(store: Store) -> QuerySet[Shipment]:
    return (
        Shipment.objects.filter(store=store)
        .select_related("order")
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")),
            "events",
        )
    )


def shipment_list(
    *,
    store: Store,
    status: str | None = None,
    order: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Shipment]:
    qs = shipment_detail_queryset(store)
    if status:
        qs = qs.filter(status=status)
    if order:
        qs = qs.filter(order__public_id=order)
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def shipment_detail(*, store: Store, shipment: Shipment) -> Shipment:
    return shipment_detail_queryset(store).get(pk=shipment.pk)


@dataclass(frozen=True)
class UnmappedCode:
    source: str  # who reported it: "easypost", "aftership", "shippo", "karrio", "generic" …
    raw_status: str
    events: int
    shipments: int
    last_seen: datetime


def tracking_unmapped_codes(*, store: Store | None = None) -> list[UnmappedCode]:
    """Provider codes that the crosswalk does not know yet ("needs mapping"), most frequent first.

    One row per (source, raw code), counting events and shipments; all stores unless `store`.
    """
    qs = TrackingEvent.objects.filter(mapped=False)
    if store is not None:
        qs = qs.filter(store=store)
    rows = (
        qs.values("source", "raw_status")
        .annotate(
            events=Count("id"),
            shipments=Count("shipment", distinct=True),
            last_seen=Max("occurred_at"),
        )
        .order_by("-events", "source", "raw_status")
    )
    return [UnmappedCode(**row) for row in rows]
