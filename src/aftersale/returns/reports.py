"""Returns reports: return rates, retained revenue, time to refund, serial returners.

Every figure is per store and currency (money is never summed across currencies) over a period of
orders placed (rates) or returns requested (money and timing). A handful of grouped queries each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, Sum

from aftersale.core.models import Store
from aftersale.core.money import quantize
from aftersale.orders.models import Order, OrderLine
from aftersale.returns.models import ReturnLine, ReturnRequest

LIVE_LINE = ~Q(request__status__in=[ReturnRequest.Status.CANCELLED, ReturnRequest.Status.REJECTED])
DIMENSIONS = {
    "product": ("product_id", "product__title"),
    "variant": ("variant_id", "variant__title"),
    "category": ("product__category", "product__category"),
}


@dataclass
class RateRow:
    key: str
    label: str
    sold: int
    returned: int

    @property
    def rate(self) -> float:
        return self.returned / self.sold if self.sold else 0.0


def return_rates(
    *, store: Store, dimension: str, since: datetime, until: datetime, limit: int = 50
) -> list[RateRow]:
    """Units sold and returned per product, variant or category, for orders placed in the period;
    highest return rate first (at least one unit returned)."""
    key, label = DIMENSIONS[dimension]
    lines = OrderLine.objects.filter(
        order__store=store, order__placed_at__gte=since, order__placed_at__lte=until
    ).exclude(order__status=Order.Status.CANCELLED)
    sold = {
        row["k"]: (row["label"], row["n"])
        for row in lines.values(k=F(key), label=F(label)).annotate(n=Sum("quantity"))
    }
    returned_rows = (
        ReturnLine.objects.filter(
            LIVE_LINE,
            request__store=store,
            order_line__order__placed_at__gte=since,
            order_line__order__placed_at__lte=until,
        )
        .values(k=F(f"order_line__{key}"))
        .annotate(n=Sum("quantity"))
    )
    rows = []
    for row in returned_rows:
        name, units = sold.get(row["k"], ("", 0))
        if dimension == "variant" and row["k"] is not None:
            name = _variant_label(row["k"]) or name
        rows.append(
            RateRow(
                key=str(row["k"] if row["k"] is not None else ""),
                label=name or "(unknown)",
                sold=units or 0,
                returned=row["n"] or 0,
            )
        )
    rows.sort(key=lambda r: (-r.rate, -r.returned, r.label))
    return rows[:limit]


def _variant_label(variant_id: int) -> str:
    from aftersale.catalog.models import Variant

    variant = Variant.objects.filter(pk=variant_id).select_related("product").first()
    return str(variant) if variant else ""


@dataclass
class ReasonRow:
    code: str
    group: str
    units: int
    returns: int
    share: float


def reasons_breakdown(*, store: Store, since: datetime, until: datetime) -> list[ReasonRow]:
    rows = list(
        ReturnLine.objects.filter(
            LIVE_LINE,
            request__store=store,
            request__requested_at__gte=since,
            request__requested_at__lte=until,
        )
        .values("reason_code", "parent_reason_code")
        .annotate(units=Sum("quantity"), returns=Count("request", distinct=True))
        .order_by("-units", "reason_code")
    )
    total = sum(r["units"] for r in rows) or 1
    return [
        ReasonRow(
            code=r["reason_code"],
            group=r["parent_reason_code"],
            units=r["units"],
            returns=r["returns"],
            share=r["units"] / total,
        )
        for r in rows
    ]


@dataclass
class Retained:
    currency: str
    refunded: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    exchanged: Decimal = Decimal(0)
    returns: int = 0

    @property
    def retained(self) -> Decimal:
        return self.credited + self.exchanged

    @property
    def retained_share(self) -> float:
        total = self.refunded + self.retained
        return float(self.retained / total) if total else 0.0


def retained_revenue(*, store: Store, since: datetime, until: datetime) -> list[Retained]:
    """Value of resolved returns paid back (refund, keep-the-item) against value kept as store
    credit or exchange (the items' value), per currency."""
    qs = ReturnRequest.objects.filter(
        store=store,
        resolved_at__isnull=False,
        requested_at__gte=since,
        requested_at__lte=until,
    )
    by_currency: dict[str, Retained] = {}
    rows = qs.values("currency", "outcome").annotate(
        total=Sum("total_amount"), items=Sum("items_amount"), n=Count("id")
    )
    for row in rows:
        entry = by_currency.setdefault(row["currency"], Retained(currency=row["currency"]))
        entry.returns += row["n"]
        if row["outcome"] in ("refund", "keep_item"):
            entry.refunded += row["total"] or 0
        elif row["outcome"] == "store_credit":
            entry.credited += row["total"] or 0
        else:
            entry.exchanged += row["items"] or 0
    for entry in by_currency.values():
        for name in ("refunded", "credited", "exchanged"):
            setattr(entry, name, quantize(getattr(entry, name), entry.currency))
    return sorted(by_currency.values(), key=lambda r: r.currency)


@dataclass
class Timing:
    count: int = 0
    median: timedelta | None = None
    p90: timedelta | None = None
    by_outcome: dict[str, timedelta] = field(default_factory=dict)


def time_to_resolution(*, store: Store, since: datetime, until: datetime) -> Timing:
    """From the shopper's request to the refund, credit or exchange."""
    rows = list(
        ReturnRequest.objects.filter(
            store=store,
            resolved_at__isnull=False,
            requested_at__gte=since,
            requested_at__lte=until,
        ).values_list("outcome", "requested_at", "resolved_at")
    )
    if not rows:
        return Timing()
    spans = sorted(resolved - requested for _, requested, resolved in rows)
    by_outcome: dict[str, list[timedelta]] = {}
    for outcome, requested, resolved in rows:
        by_outcome.setdefault(outcome, []).append(resolved - requested)
    return Timing(
        count=len(spans),
        median=_quantile(spans, 0.5),
        p90=_quantile(spans, 0.9),
        by_outcome={k: _quantile(sorted(v), 0.5) for k, v in sorted(by_outcome.items())},
    )


def _quantile(values: list[timedelta], q: float) -> timedelta:
    index = min(round(q * (len(values) - 1)), len(values) - 1)
    return values[index]


@dataclass
class Returner:
    customer_id: int
    public_id: str
    email: str
    returns: int
    orders: int
    value: Decimal
    currency: str
    flagged: int

    @property
    def rate(self) -> float:
        return self.returns / self.orders if self.orders else 0.0


def serial_returners(
    *, store: Store, since: datetime, until: datetime, min_returns: int = 3, limit: int = 50
) -> list[Returner]:
    rows = (
        ReturnRequest.objects.filter(
            store=store,
            customer__isnull=False,
            requested_at__gte=since,
            requested_at__lte=until,
        )
        .exclude(status__in=[ReturnRequest.Status.CANCELLED, ReturnRequest.Status.REJECTED])
        .values("customer_id", "customer__public_id", "customer__email", "currency")
        .annotate(
            n=Count("id"),
            value=Sum("items_amount"),
            flagged=Count("id", filter=Q(fraud_flagged=True)),
        )
        .filter(n__gte=min_returns)
        .order_by("-n", "-value")[:limit]
    )
    rows = list(rows)
    orders = dict(
        Order.objects.filter(store=store, customer_id__in=[r["customer_id"] for r in rows])
        .exclude(status=Order.Status.CANCELLED)
        .exclude(exchange_for__isnull=False)  # replacement orders of exchanges
        .values("customer_id")
        .annotate(n=Count("id"))
        .values_list("customer_id", "n")
    )
    return [
        Returner(
            customer_id=r["customer_id"],
            public_id=r["customer__public_id"],
            email=r["customer__email"],
            returns=r["n"],
            orders=orders.get(r["customer_id"], 0),
            value=quantize(r["value"] or 0, r["currency"]),
            currency=r["currency"],
            flagged=r["flagged"],
        )
        for r in rows
    ]
