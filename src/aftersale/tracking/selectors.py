from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from aftersale.core.models import Store
from aftersale.tracking.models import Shipment, ShipmentLine


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
