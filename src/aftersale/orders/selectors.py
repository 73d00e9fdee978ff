from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from aftersale.core.models import Store
from aftersale.orders.models import Order, OrderLine, Refund, RefundLine


def order_detail_queryset(store: Store) -> QuerySet[Order]:
    """Orders with everything order_out() reads, in a fixed number of queries."""
    return (
        Order.objects.filter(store=store)
        .select_related("customer", "shipping_address", "billing_address")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("product", "variant")),
            "shipments",
            Prefetch(
                "refunds",
                queryset=Refund.objects.select_related("order").prefetch_related(
                    Prefetch("lines", queryset=RefundLine.objects.select_related("order_line"))
                ),
            ),
        )
    )


def order_list(
    *,
    store: Store,
    status: str | None = None,
    customer: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Order]:
    qs = order_detail_queryset(store)
    if status:
        qs = qs.filter(status=status)
    if customer:
        qs = qs.filter(customer__public_id=customer)
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def order_detail(*, store: Store, order: Order) -> Order:
    return order_detail_queryset(store).get(pk=order.pk)
