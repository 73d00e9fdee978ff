from __future__ import annotations

from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment


def order_for_page(order_public_id: str) -> tuple[Order, list[Shipment]]:
    order = (
        Order.objects.select_related("store", "customer", "shipping_address")
        .prefetch_related("lines")
        .filter(public_id=order_public_id)
        .first()
    )
    if order is None:
        raise LookupError(order_public_id)
    shipments = list(Shipment.objects.filter(order=order).order_by("created_at"))
    return order, shipments
