"""Reads for returns: finding an order, the facts the rules need, eligibility, the status page."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import connections, router
from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.db.models.query import get_related_populators

from aftersale.catalog.models import Variant
from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.money import quantize
from aftersale.core.services import NotFound
from aftersale.core.signing import read_link, sign_link
from aftersale.orders.models import Order, OrderLine, RefundLine
from aftersale.returns.models import (
    Outcome,
    ReturnLabel,
    ReturnLine,
    ReturnReason,
    ReturnRequest,
    ReturnRuleSet,
    StoreCreditAccount,
)
from aftersale.returns.rules import (
    DEFAULT_DEFINITION,
    CompiledRules,
    Decision,
    LineFacts,
    OrderFacts,
    ReasonFacts,
    RuleSetIn,
    compile_rules,
    evaluate,
    order_pass,
    validate_definition,
)
from aftersale.tracking.models import RETURN_PARCEL_SOURCE, Shipment

RETURN_SHIPMENT_SOURCE = RETURN_PARCEL_SOURCE
STATUS_SALT = "returns.status"
# Returns that count: everything but cancelled and rejected ones.
LIVE = ~Q(status__in=[ReturnRequest.Status.CANCELLED, ReturnRequest.Status.REJECTED])
OPEN_STATUSES = (
    ReturnRequest.Status.REQUESTED,
    ReturnRequest.Status.APPROVED,
    ReturnRequest.Status.LABEL_ISSUED,
    ReturnRequest.Status.IN_TRANSIT,
    ReturnRequest.Status.RECEIVED,
    ReturnRequest.Status.INSPECTED,
)


# -- prepared queries -------------------------------------------------------------------------
#
# The portal's pages read the same few queries for every order: compiling them with the ORM each
# time costs more than running them. A prepared query is a queryset built once with sentinel
# values where the per-call values go, compiled to SQL once per database, and run with the
# sentinels replaced; its rows come back through the same compiler (converters, select_related
# and annotations), so the results are exactly what the queryset would give.


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]
    compiler: object
    converters: dict
    # For model instances (as ModelIterable builds them): the model's columns, the
    # select_related populators, annotations.
    start: int = 0
    end: int = 0
    names: tuple[str, ...] = ()
    populators: tuple = ()
    annotations: dict = field(default_factory=dict)


class PreparedQuery:
    def __init__(self, build: Callable[..., QuerySet], **sentinels: object):
        self.build = build
        self.sentinels = sentinels
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        found = self._compiled.get(alias)
        if found is not None:
            return found
        with self._lock:
            qs = self.build(**self.sentinels)
            compiler = qs.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            slots = []
            for name, sentinel in self.sentinels.items():
                where = [i for i, p in enumerate(params) if p == sentinel]
                if not where:
                    raise RuntimeError(f"prepared query: {name} is not among {params!r}")
                slots += [(i, name) for i in where]
            columns = [s[0] for s in compiler.select[: compiler.col_count]]
            if compiler.has_composite_fields(columns):
                raise RuntimeError("prepared query: composite fields are not supported")
            extra = {}
            klass_info = compiler.klass_info
            if klass_info is not None:  # a query of model instances
                select = compiler.select
                fields = klass_info["select_fields"]
                extra = {
                    "start": fields[0],
                    "end": fields[-1] + 1,
                    "names": tuple(f[0].target.attname for f in select[fields[0] : fields[-1] + 1]),
                    "populators": tuple(get_related_populators(klass_info, select, alias)),
                    "annotations": dict(compiler.annotation_col_map),
                }
            found = _Compiled(
                sql=sql,
                params=tuple(params),
                slots=tuple(slots),
                compiler=compiler,
                # What results_iter would work out on every call: the columns' converters.
                converters=compiler.get_converters(columns),
                **extra,
            )
            self._compiled[alias] = found
        return found

    def _run(self, alias: str, values: dict) -> tuple[_Compiled, list]:
        compiled = self._compile(alias)
        params = list(compiled.params)
        for index, name in compiled.slots:
            params[index] = values[name]
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters and rows:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        return compiled, rows

    def rows(self, model=None, **values) -> list[tuple]:
        """The rows of a values_list() query."""
        _, rows = self._run(router.db_for_read(model or Order), values)
        return [tuple(row) for row in rows]

    def objects(self, model, **values) -> list:
        """Model instances, as iterating the queryset gives them."""
        alias = router.db_for_read(model)
        compiled, rows = self._run(alias, values)
        start, end, names = compiled.start, compiled.end, compiled.names
        found = []
        for row in rows:
            obj = model.from_db(alias, names, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations.items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found


# Values no real row has, standing for the per-call values of the prepared queries below.
_SENTINEL_ORDER = -7_300_000_001
_SENTINEL_STORE = -7_300_000_002
_SENTINEL_CURRENCY = "XSENTINEL"
_SENTINEL_PUBLIC_ID = "ord_xsentinel-prepared-query"


# -- rules ------------------------------------------------------------------------------------

_compiled_cache: dict[str, CompiledRules] = {}


def ruleset_row(*, store: Store) -> ReturnRuleSet | None:
    return ReturnRuleSet.objects.filter(store=store).first()


def ruleset_definition(*, store: Store) -> tuple[dict, int]:
    """The stored definition and its version; the default rules (version 0) when none is saved."""
    row = ruleset_row(store=store)
    if row is None:
        return DEFAULT_DEFINITION, 0
    return row.definition, row.version


def definition_fingerprint(definition: dict) -> str:
    raw = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


_DEFAULT_FINGERPRINT = definition_fingerprint(DEFAULT_DEFINITION)


_NO_ROW = object()


def compiled_rules(*, store: Store, fingerprint: str | object | None = _NO_ROW) -> CompiledRules:
    """The store's rules, compiled once per distinct definition (cached by its fingerprint).

    A caller that already read the rule set's fingerprint (None: the store has no rule set)
    passes it, and the definition is only read when that fingerprint was never compiled."""
    if fingerprint is _NO_ROW:
        fingerprint = (
            ReturnRuleSet.objects.filter(store=store).values_list("fingerprint", flat=True).first()
        )
    if fingerprint is None:
        fingerprint = _DEFAULT_FINGERPRINT
    hit = _compiled_cache.get(fingerprint) if fingerprint else None
    if hit is not None:
        return hit
    row = ReturnRuleSet.objects.filter(store=store).values_list("fingerprint", "definition").first()
    fingerprint, definition = row if row else (_DEFAULT_FINGERPRINT, DEFAULT_DEFINITION)
    if not fingerprint:
        fingerprint = definition_fingerprint(definition)
    hit = _compiled_cache.get(fingerprint)
    if hit is None:
        hit = compile_rules(validate_definition(definition))
        if len(_compiled_cache) > 500:
            _compiled_cache.clear()
        _compiled_cache[fingerprint] = hit
    return hit


def compiled_from(definition: dict) -> tuple[RuleSetIn, CompiledRules]:
    ruleset = validate_definition(definition)
    return ruleset, compile_rules(ruleset)


# -- finding an order -------------------------------------------------------------------------


def _postcode(value: str) -> str:
    return re.sub(r"[\s\-]", "", value or "").upper()


def order_find_for_return(
    *, store: Store, number: str, email: str | None = None, postal_code: str | None = None
) -> Order | None:
    """The order with this number whose email or postcode matches (gift returns: postcode)."""
    number = (number or "").strip().lstrip("#").strip()
    if not number or not (email or postal_code):
        return None
    candidates = (
        Order.objects.filter(store=store)
        .filter(Q(number=number) | Q(number=f"#{number}"))
        .select_related("customer", "shipping_address", "billing_address")
        .order_by("-placed_at")[:5]
    )
    wanted_email = (email or "").strip().lower()
    wanted_code = _postcode(postal_code or "")
    for order in candidates:
        if wanted_email:
            emails = {order.email.lower()}
            if order.customer is not None:
                emails.add(order.customer.email.lower())
            if wanted_email in emails - {""}:
                return order
        if wanted_code:
            codes = {
                _postcode(a.postal_code)
                for a in (order.shipping_address, order.billing_address)
                if a is not None
            }
            if wanted_code in codes - {""}:
                return order
    return None


_PORTAL_ORDER = PreparedQuery(
    lambda public_id: Order.objects.filter(public_id=public_id).select_related(
        "store", "customer", "shipping_address"
    ),
    public_id=_SENTINEL_PUBLIC_ID,
)


def portal_order(public_id: str) -> Order | None:
    """The order a portal draft is about, with its store, customer and shipping address."""
    found = _PORTAL_ORDER.objects(Order, public_id=public_id)
    return found[0] if found else None


# -- money per line ---------------------------------------------------------------------------


def line_net_amounts(order: Order, lines: list[OrderLine]) -> dict[int, Decimal]:
    """What each line was paid after its own discount and its share of an order-level one."""
    total = sum((line.total for line in lines), Decimal(0))
    line_discounts = sum((line.discount for line in lines), Decimal(0))
    extra = order.discount_total - line_discounts
    nets = {}
    for line in lines:
        net = line.total
        if extra > 0 and total > 0:
            net -= extra * line.total / total
        nets[line.pk] = max(net, Decimal(0))
    return nets


def unit_amount(net: Decimal, quantity_bought: int, currency: str) -> Decimal:
    return quantize(net / quantity_bought, currency) if quantity_bought else Decimal(0)


def amount_for(net: Decimal, quantity_bought: int, quantity: int, currency: str) -> Decimal:
    """What `quantity` of the line's units were paid (the whole net when all units come back)."""
    if quantity >= quantity_bought:
        return quantize(net, currency)
    return quantize(net * quantity / quantity_bought, currency)


# -- facts ------------------------------------------------------------------------------------


def customer_return_stats(*, store: Store, customer_id: int | None) -> tuple[int, Decimal]:
    """(returns, returns per order) for a customer; (0, 0) without one."""
    if customer_id is None:
        return 0, Decimal(0)
    returns = ReturnRequest.objects.filter(LIVE, store=store, customer_id=customer_id).count()
    orders = (
        Order.objects.filter(store=store, customer_id=customer_id)
        .exclude(status=Order.Status.CANCELLED)
        .exclude(exchange_for__isnull=False)  # replacement orders of exchanges
        .count()
    )
    return returns, _return_rate(returns, orders)


def _return_rate(returns: int, orders: int) -> Decimal:
    return (
        (Decimal(returns) / Decimal(orders)).quantize(Decimal("0.0001")) if orders else Decimal(0)
    )


def delivered_at(order: Order) -> datetime | None:
    return (
        Shipment.objects.filter(order=order, delivered_at__isnull=False)
        .exclude(source=RETURN_SHIPMENT_SOURCE)
        .aggregate(at=Min("delivered_at"))["at"]
    )


def store_zone(store: Store) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(store.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def days_between(since: datetime, now: datetime, zone: zoneinfo.ZoneInfo) -> int:
    """Calendar days from `since` to `now` in the store's time zone (delivered yesterday: 1)."""
    return max((now.astimezone(zone).date() - since.astimezone(zone).date()).days, 0)


def window_end(since: datetime, days: int, zone: zoneinfo.ZoneInfo) -> datetime:
    """The last moment of the window: the end of day `days` after `since`, store time."""
    last = since.astimezone(zone).date() + timedelta(days=days + 1)
    return datetime.combine(last, time.min, tzinfo=zone) - timedelta(microseconds=1)


def order_facts(
    *,
    store: Store,
    order: Order,
    now: datetime,
    gift: bool = False,
    delivered: datetime | None = None,
    stats: tuple[int, Decimal] | None = None,
) -> OrderFacts:
    if delivered is None:
        delivered = delivered_at(order)
    since = delivered or order.placed_at
    count, rate = stats or customer_return_stats(store=store, customer_id=order.customer_id)
    customer = order.customer if order.customer_id else None
    address = order.shipping_address if order.shipping_address_id else None
    return OrderFacts(
        days_since_delivery=days_between(since, now, store_zone(store)),
        delivered=delivered is not None,
        order_total=order.total,
        discount_used=bool(order.discount_codes) or order.discount_total > 0,
        customer_return_count=count,
        customer_return_rate=rate,
        customer_tags=frozenset(t.lower() for t in (customer.tags if customer else [])),
        order_tags=frozenset(t.lower() for t in order.tags or []),
        country=(address.country if address else "") or store.country,
        channel=order.channel,
        gift=gift,
    )


def line_facts(line: OrderLine, unit: Decimal) -> LineFacts:
    product = line.product if line.product_id else None
    return LineFacts(
        product=product.public_id if product else "",
        sku=line.sku,
        category=(product.category if product else "").lower(),
        tag=frozenset(t.lower() for t in (product.tags if product else [])),
        final_sale=bool(product and product.final_sale),
        price=unit,
    )


def reason_facts(reason: ReturnReason) -> ReasonFacts:
    parent = reason.parent.code if reason.parent_id else reason.code
    return ReasonFacts(reason=reason.code, reason_group=parent)


# -- reasons ----------------------------------------------------------------------------------


@dataclass
class ReasonOption:
    code: str
    label: str
    requires_photos: bool
    children: list[ReasonOption] = field(default_factory=list)


def reasons(*, store: Store) -> list[ReturnReason]:
    """The store's active reasons, parents before children, in the store's order."""
    return list(ReturnReason.objects.filter(store=store, active=True).select_related("parent"))


def leaf_reasons(all_reasons: list[ReturnReason]) -> list[ReturnReason]:
    parents = {r.parent_id for r in all_reasons if r.parent_id}
    return [r for r in all_reasons if r.pk not in parents]


def reason_tree(
    all_reasons: list[ReturnReason], *, allowed: set[str] | None = None, locale: str = "en"
) -> list[ReasonOption]:
    """Top-level reasons with their children; with `allowed`, only allowed leaves (and the
    parents that keep at least one)."""
    by_parent: dict[int | None, list[ReturnReason]] = defaultdict(list)
    for reason in all_reasons:
        by_parent[reason.parent_id].append(reason)
    options = []
    for top in by_parent[None]:
        children = [
            ReasonOption(c.code, c.label_for(locale), c.requires_photos)
            for c in by_parent[top.pk]
            if allowed is None or c.code in allowed
        ]
        if by_parent[top.pk]:
            if children:
                options.append(
                    ReasonOption(top.code, top.label_for(locale), top.requires_photos, children)
                )
        elif allowed is None or top.code in allowed:
            options.append(ReasonOption(top.code, top.label_for(locale), top.requires_photos))
    return options


# -- eligibility ------------------------------------------------------------------------------


@dataclass
class OutcomeOption:
    code: str
    label: str
    unit_amount: Decimal
    bonus_percent: Decimal
    fee_percent: Decimal


@dataclass
class VariantOption:
    id: str
    product_id: str
    title: str
    product_title: str
    price: Decimal
    currency: str
    inventory_quantity: int | None
    image_url: str


@dataclass
class LineEligibility:
    line: OrderLine
    line_id: str
    title: str
    variant_title: str
    image_url: str
    sku: str
    quantity_bought: int
    quantity_returned: int
    returnable_qty: int
    eligible: bool
    deny_message: str
    unit_amount: Decimal
    window_ends_at: datetime | None
    reasons: list[ReasonOption]
    outcomes: list[OutcomeOption]
    photos_required: bool
    photo_reasons: set[str]
    exchange_variants: list[VariantOption]
    decision: Decision | None = None


@dataclass
class OrderEligibility:
    order: Order
    currency: str
    eligible: bool
    deny_message: str
    lines: list[LineEligibility]
    shipping_methods: list[str]
    return_fee: Decimal
    upcharge_payment_url: str
    open_returns: list[ReturnRequest]
    # What it was worked out from, for return_quote(eligibility=...) in the same request: the
    # moment, the gift flag, the order's facts, the rules, the store's reasons, what each line
    # was paid (by pk) and every return of the order (oldest first).
    now: datetime | None = None
    gift: bool = False
    facts: OrderFacts | None = None
    compiled: CompiledRules | None = None
    reasons: list[ReturnReason] = field(default_factory=list)
    nets: dict[int, Decimal] = field(default_factory=dict)
    returns: list[ReturnRequest] = field(default_factory=list)


def returned_quantities(order: Order) -> dict[int, int]:
    """Units per order line already in a live return, or refunded by the platform outside one."""
    rows = (
        ReturnRequest.objects.filter(LIVE, order=order)
        .values("lines__order_line_id")
        .annotate(n=Sum("lines__quantity"))
    )
    counts: dict[int, int] = defaultdict(int)
    for row in rows:
        if row["lines__order_line_id"] is not None:
            counts[row["lines__order_line_id"]] += row["n"] or 0
    refunded = (
        RefundLine.objects.filter(order_line__order=order, refund__return_requests__isnull=True)
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
    )
    for row in refunded:
        counts[row["order_line_id"]] += row["n"] or 0
    return counts


def in_stock(variant: Variant) -> bool:
    """Stock is known and positive, or not tracked (None)."""
    return variant.inventory_quantity is None or variant.inventory_quantity > 0


def variant_option(variant: Variant) -> VariantOption:
    return VariantOption(
        id=variant.public_id,
        product_id=variant.product.public_id,
        title=variant.title or variant.product.title,
        product_title=variant.product.title,
        price=variant.price,
        currency=variant.currency,
        inventory_quantity=variant.inventory_quantity,
        image_url=variant.image_url or variant.product.image_url,
    )


def _catalog_query(store, currency) -> QuerySet[Variant]:
    return (
        Variant.objects.filter(store=store, currency=currency)
        .filter(Q(inventory_quantity__isnull=True) | Q(inventory_quantity__gt=0))
        .select_related("product")
        .order_by("product__title", "id")
    )


CATALOG_LIMIT = 40
_CATALOG = PreparedQuery(
    lambda store, currency: _catalog_query(store, currency)[:CATALOG_LIMIT],
    store=_SENTINEL_STORE,
    currency=_SENTINEL_CURRENCY,
)


def exchange_catalog(
    *, store: Store, currency: str, query: str = "", limit: int = CATALOG_LIMIT
) -> list[VariantOption]:
    """In-stock variants in the order's currency, by product title (a search narrows them)."""
    if not query and limit == CATALOG_LIMIT:
        found = _CATALOG.objects(Variant, store=store.pk, currency=currency)
        return [variant_option(v) for v in found]
    qs = _catalog_query(store, currency)
    if query:
        qs = qs.filter(
            Q(product__title__icontains=query) | Q(title__icontains=query) | Q(sku__iexact=query)
        )
    return [variant_option(v) for v in qs[:limit]]


OUTCOME_LABELS = dict(Outcome.choices)


def outcome_unit_amount(outcome: str, unit: Decimal, decision: Decision, currency: str) -> Decimal:
    fee = unit * decision.restocking_fee_percent / 100
    if outcome == "refund":
        return quantize(unit - fee, currency)
    if outcome == "keep_item":
        return quantize(unit, currency)
    if outcome == "store_credit":
        if decision.waive_fees_for_credit:
            fee = Decimal(0)
        return quantize(unit - fee + unit * decision.credit_bonus_percent / 100, currency)
    return Decimal(0)


# The reads of return_eligibility, prepared (see PreparedQuery): five queries per order.


def _count(qs: QuerySet) -> Coalesce:
    return Coalesce(
        Subquery(qs.order_by().values("store_id").annotate(n=Count("id")).values("n")[:1]), 0
    )


def _order_state_query(store: int, order: int) -> QuerySet:
    """When the order was first delivered, the customer's live returns and orders in the store
    (for the return rate, as customer_return_stats counts them) and the fingerprint of the
    store's rule set."""
    customer_returns = ReturnRequest.objects.filter(
        LIVE, store_id=store, customer_id=OuterRef("customer_id")
    )
    customer_orders = (
        Order.objects.filter(store_id=store, customer_id=OuterRef("customer_id"))
        .exclude(status=Order.Status.CANCELLED)
        .exclude(exchange_for__isnull=False)
    )
    delivered = (
        Shipment.objects.filter(order_id=OuterRef("pk"), delivered_at__isnull=False)
        .exclude(source=RETURN_SHIPMENT_SOURCE)
        .order_by()
        .values("order_id")
        .annotate(at=Min("delivered_at"))
        .values("at")[:1]
    )
    fingerprint = ReturnRuleSet.objects.filter(store_id=store).values("fingerprint")[:1]
    return Order.objects.filter(pk=order).values_list(
        Subquery(delivered),
        _count(customer_returns),
        _count(customer_orders),
        Subquery(fingerprint),
    )


def _lines_query(order: int) -> QuerySet:
    """The order's lines with their product and variant, and the units of each already in a
    live return of the order or refunded by the platform outside one (returned_quantities)."""
    returned = (
        ReturnLine.objects.filter(
            order_line_id=OuterRef("pk"), request__order_id=OuterRef("order_id")
        )
        .exclude(
            request__status__in=[ReturnRequest.Status.CANCELLED, ReturnRequest.Status.REJECTED]
        )
        .order_by()
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
        .values("n")[:1]
    )
    refunded = (
        RefundLine.objects.filter(
            order_line_id=OuterRef("pk"), refund__return_requests__isnull=True
        )
        .order_by()
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
        .values("n")[:1]
    )
    return (
        OrderLine.objects.filter(order_id=order)
        .select_related("product", "variant")
        .annotate(
            units_returned=Coalesce(Subquery(returned), 0),
            units_refunded=Coalesce(Subquery(refunded), 0),
        )
        .order_by("id")
    )


_ORDER_STATE = PreparedQuery(_order_state_query, store=_SENTINEL_STORE, order=_SENTINEL_ORDER)
_LINES = PreparedQuery(_lines_query, order=_SENTINEL_ORDER)
_REASONS = PreparedQuery(
    lambda store: ReturnReason.objects.filter(store_id=store, active=True).select_related("parent"),
    store=_SENTINEL_STORE,
)
_ORDER_RETURNS = PreparedQuery(
    lambda store, order: ReturnRequest.objects.filter(store_id=store, order_id=order).order_by(
        "id"
    ),
    store=_SENTINEL_STORE,
    order=_SENTINEL_ORDER,
)
_EXCHANGE_VARIANTS = PreparedQuery(
    lambda store, order, currency: Variant.objects.filter(
        store_id=store,
        currency=currency,
        product_id__in=OrderLine.objects.filter(order_id=order, product_id__isnull=False).values(
            "product_id"
        ),
    ).select_related("product"),
    store=_SENTINEL_STORE,
    order=_SENTINEL_ORDER,
    currency=_SENTINEL_CURRENCY,
)


def return_eligibility(
    *,
    store: Store,
    order: Order,
    now: datetime | None = None,
    gift: bool = False,
    locale: str = "en",
) -> OrderEligibility:
    now = now or clock.now()
    state = _ORDER_STATE.rows(Order, store=store.pk, order=order.pk)
    delivered, customer_returns, customer_orders, fingerprint = (
        state[0] if state else (None, 0, 0, _NO_ROW)  # an order deleted meanwhile
    )
    compiled = compiled_rules(store=store, fingerprint=fingerprint)
    lines = _LINES.objects(OrderLine, order=order.pk)
    currency = order.currency
    stats = (0, Decimal(0))
    if order.customer_id is not None:
        stats = (customer_returns, _return_rate(customer_returns, customer_orders))
    facts = order_facts(
        store=store, order=order, now=now, gift=gift, delivered=delivered, stats=stats
    )
    nets = line_net_amounts(order, lines)
    taken = {line.pk: line.units_returned + line.units_refunded for line in lines}
    all_reasons = _REASONS.objects(ReturnReason, store=store.pk)
    leaves = leaf_reasons(all_reasons)
    order_returns = _ORDER_RETURNS.objects(ReturnRequest, store=store.pk, order=order.pk)
    open_returns = [ret for ret in order_returns if ret.status in OPEN_STATUSES]
    order_message = ""
    if order.status == Order.Status.CANCELLED:
        order_message = "This order was cancelled, so there is nothing to return."
    elif (
        delivered is None
        and order.fulfillment_status == Order.FulfillmentStatus.UNFULFILLED
        and order.channel != Order.Channel.IN_STORE  # taken home from the shop
    ):
        order_message = "This order has not shipped yet. You can return items once they arrive."
    variants_by_product: dict[int, list[Variant]] = defaultdict(list)
    if any(line.product_id for line in lines):
        for variant in _EXCHANGE_VARIANTS.objects(
            Variant, store=store.pk, order=order.pk, currency=currency
        ):
            variants_by_product[variant.product_id].append(variant)
    passed = order_pass(compiled, facts)
    since = delivered or order.placed_at
    zone = store_zone(store)
    result_lines = []
    fees: list[Decimal] = []
    methods: set[str] | None = None
    for line in lines:
        unit = unit_amount(nets[line.pk], line.quantity, currency)
        lfacts = line_facts(line, unit)
        decision = evaluate(compiled, facts, lfacts, None, passed)
        returned = taken.get(line.pk, 0)
        left = max(line.quantity - returned, 0)
        allowed_reasons: set[str] = set()
        photo_reasons: set[str] = set()
        for reason in leaves:
            by_reason = evaluate(compiled, facts, lfacts, reason_facts(reason), passed)
            if by_reason.allowed:
                allowed_reasons.add(reason.code)
                if by_reason.require_photos or reason.requires_photos:
                    photo_reasons.add(reason.code)
        eligible = decision.allowed and left > 0 and not order_message and bool(allowed_reasons)
        message = order_message or decision.deny_message
        if not message and left == 0:
            message = "This item has already been returned."
        if not message and not allowed_reasons:
            message = "This item cannot be returned."
        outcomes = [
            OutcomeOption(
                code=code,
                label=OUTCOME_LABELS[code],
                unit_amount=outcome_unit_amount(code, unit, decision, currency),
                bonus_percent=(
                    decision.credit_bonus_percent
                    if code == "store_credit"
                    else decision.exchange_bonus_percent
                    if code.startswith("exchange")
                    else Decimal(0)
                ),
                fee_percent=decision.restocking_fee_percent if code != "keep_item" else Decimal(0),
            )
            for code in Outcome.values
            if code in decision.outcomes
        ]
        if eligible:
            fees.append(decision.return_fee)
            methods = (
                set(decision.shipping_methods)
                if methods is None
                else methods & set(decision.shipping_methods)
            )
        same_product = [
            v
            for v in variants_by_product.get(line.product_id, [])
            if v.pk != line.variant_id and in_stock(v)
        ]
        result_lines.append(
            LineEligibility(
                line=line,
                line_id=line.public_id,
                title=line.title,
                variant_title=line.variant_title,
                image_url=(line.variant.image_url if line.variant_id else "")
                or (line.product.image_url if line.product_id else ""),
                sku=line.sku,
                quantity_bought=line.quantity,
                quantity_returned=returned,
                returnable_qty=left if eligible else 0,
                eligible=eligible,
                deny_message="" if eligible else message,
                unit_amount=unit,
                window_ends_at=window_end(since, decision.window_days, zone),
                reasons=reason_tree(all_reasons, allowed=allowed_reasons, locale=locale),
                outcomes=outcomes if eligible else [],
                photos_required=decision.require_photos,
                photo_reasons=photo_reasons,
                exchange_variants=[variant_option(v) for v in same_product],
                decision=decision,
            )
        )
    eligible_any = any(line.eligible for line in result_lines)
    deny = ""
    if not eligible_any:
        messages = [line.deny_message for line in result_lines]
        closed = [
            line.deny_message
            for line in result_lines
            if line.decision is not None and line.decision.window_closed
        ]
        deny = order_message or (
            closed[0]
            if closed
            else messages[0]
            if len(set(messages)) == 1
            else "None of the items in this order can be returned."
        )
    return OrderEligibility(
        order=order,
        currency=currency,
        eligible=eligible_any,
        deny_message=deny,
        lines=result_lines,
        shipping_methods=sorted(methods or []),
        return_fee=quantize(max(fees, default=Decimal(0)), currency),
        upcharge_payment_url=compiled.upcharge_payment_url,
        open_returns=open_returns,
        now=now,
        gift=gift,
        facts=facts,
        compiled=compiled,
        reasons=all_reasons,
        nets=nets,
        returns=order_returns,
    )


# -- returns ----------------------------------------------------------------------------------


def return_list(
    *,
    store: Store,
    status: str | None = None,
    order: str | None = None,
    customer: str | None = None,
    fraud_flagged: bool | None = None,
    reason: str | None = None,
    outcome: str | None = None,
) -> QuerySet[ReturnRequest]:
    qs = ReturnRequest.objects.filter(store=store).select_related(
        "order", "customer", "refund", "exchange_order"
    )
    if status:
        qs = qs.filter(status=status)
    if order:
        qs = qs.filter(order__public_id=order)
    if customer:
        qs = qs.filter(customer__public_id=customer)
    if fraud_flagged is not None:
        qs = qs.filter(fraud_flagged=fraud_flagged)
    if reason:
        qs = qs.filter(
            Q(lines__reason_code=reason) | Q(lines__parent_reason_code=reason)
        ).distinct()
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs


def return_get(*, store: Store, ref: str) -> ReturnRequest:
    ret = (
        ReturnRequest.objects.filter(store=store, public_id=ref)
        .select_related("order", "customer", "refund", "exchange_order")
        .first()
    )
    if ret is None:
        raise NotFound(f"no return {ref!r} in this store")
    return ret


def returns_for_order(*, store: Store, order: Order) -> list[ReturnRequest]:
    return list(ReturnRequest.objects.filter(store=store, order=order).order_by("id"))


def return_status_token(ret: ReturnRequest) -> str:
    return sign_link(STATUS_SALT, {"r": ret.public_id})


def return_from_token(token: str) -> ReturnRequest | None:
    data = read_link(STATUS_SALT, token)
    public_id = data.get("r")
    if not isinstance(public_id, str):
        return None
    return (
        ReturnRequest.objects.filter(public_id=public_id)
        .select_related("store", "order", "customer", "exchange_order")
        .first()
    )


@dataclass
class Step:
    code: str
    label: str
    at: datetime | None
    done: bool
    current: bool


@dataclass
class ReturnStatusView:
    ret: ReturnRequest
    steps: list[Step]
    lines: list
    label: ReturnLabel | None
    shipment: Shipment | None
    can_cancel: bool
    transitions: list


RESOLVED_BY_OUTCOME = {
    "refund": ReturnRequest.Status.REFUNDED,
    "keep_item": ReturnRequest.Status.REFUNDED,
    "store_credit": ReturnRequest.Status.CREDITED,
    "exchange_same": ReturnRequest.Status.EXCHANGED,
    "exchange_other": ReturnRequest.Status.EXCHANGED,
}


def planned_steps(ret: ReturnRequest) -> list[str]:
    S = ReturnRequest.Status
    if ret.status in (S.REJECTED, S.CANCELLED):
        return [S.REQUESTED, ret.status]
    resolved = RESOLVED_BY_OUTCOME[ret.outcome]
    if ret.is_returnless:
        return [S.REQUESTED, S.APPROVED, resolved, S.CLOSED]
    steps = [S.REQUESTED, S.APPROVED]
    if ret.shipping_method != ReturnRequest.ShippingMethod.IN_STORE:
        steps += [S.LABEL_ISSUED, S.IN_TRANSIT]
    steps.append(S.RECEIVED)
    if ret.refund_timing == ReturnRequest.RefundTiming.AFTER_INSPECTION:
        steps.append(S.INSPECTED)
    steps += [resolved, S.CLOSED]
    return steps


def return_status(*, store: Store, ret: ReturnRequest, locale: str = "en") -> ReturnStatusView:
    transitions = list(ret.transitions.select_related("actor_user").order_by("at", "id"))
    reached = {}
    for t in transitions:
        reached.setdefault(t.to_status, t.at)
    labels = dict(ReturnRequest.Status.choices)
    plan = planned_steps(ret)
    # Steps the return went through out of the planned order (refunded before received) are
    # done too: "done" is whether the step was reached at all.
    current_index = plan.index(ret.status) if ret.status in plan else -1
    steps = [
        Step(
            code=code,
            label=labels[code],
            at=reached.get(code),
            done=code in reached or index <= current_index,
            current=code == ret.status,
        )
        for index, code in enumerate(plan)
    ]
    label = ret.labels.filter(voided_at__isnull=True).select_related("shipment").first()
    lines = list(
        ret.lines.select_related("order_line", "reason", "exchange_variant").prefetch_related(
            "photos"
        )
    )
    return ReturnStatusView(
        ret=ret,
        steps=steps,
        lines=lines,
        label=label,
        shipment=label.shipment if label else None,
        can_cancel=ret.status in (ReturnRequest.Status.REQUESTED, ReturnRequest.Status.APPROVED),
        transitions=transitions,
    )


def credit_accounts_for(*, store: Store, customer_id: int) -> list[StoreCreditAccount]:
    return list(StoreCreditAccount.objects.filter(store=store, customer_id=customer_id))


# -- journeys ---------------------------------------------------------------------------------


def _has_open_return(facts) -> bool:
    if facts.customer is None:
        return False
    return ReturnRequest.objects.filter(
        store=facts.store, customer=facts.customer, status__in=OPEN_STATUSES
    ).exists()


def _return_count(facts) -> int:
    if facts.customer is None:
        return 0
    return ReturnRequest.objects.filter(LIVE, store=facts.store, customer=facts.customer).count()


def _shipment_is_return(facts) -> bool:
    return facts.shipment is not None and facts.shipment.source == RETURN_SHIPMENT_SOURCE


def _order_has_return(facts) -> bool:
    if facts.order is None:
        return False
    return ReturnRequest.objects.filter(LIVE, store=facts.store, order=facts.order).exists()


JOURNEY_FIELDS = {
    "customer.has_open_return": _has_open_return,
    "customer.return_count": _return_count,
    "order.has_return": _order_has_return,
    "shipment.is_return": _shipment_is_return,
}

JOURNEY_TRIGGERS = {
    "return.requested": "a shopper asks for a return",
    "return.approved": "a return is approved",
    "return.rejected": "a return is rejected",
    "return.label_issued": "a return label or drop-off code is issued",
    "return.in_transit": "a return parcel gets its first carrier scan",
    "return.received": "a return parcel arrives",
    "return.inspected": "returned items are inspected",
    "return.refunded": "a return is refunded",
    "return.credited": "a return is paid out as store credit",
    "return.exchanged": "a return's replacement order is created",
    "return.closed": "a return is closed",
    "return.cancelled": "a return is cancelled",
}


def count_by(qs: QuerySet, field_name: str) -> dict[str, int]:
    return {row[field_name]: row["n"] for row in qs.values(field_name).annotate(n=Count("id"))}
