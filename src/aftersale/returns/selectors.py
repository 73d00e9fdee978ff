"""Reads for returns: finding an order, the facts the rules need, eligibility, the status page."""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Min, Q, QuerySet, Sum

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
from aftersale.tracking.models import Shipment

RETURN_SHIPMENT_SOURCE = "returns"
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


def compiled_rules(*, store: Store) -> CompiledRules:
    """The store's rules, compiled once per distinct definition (cached by its fingerprint)."""
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
    rate = (
        (Decimal(returns) / Decimal(orders)).quantize(Decimal("0.0001")) if orders else Decimal(0)
    )
    return returns, rate


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


def exchange_catalog(
    *, store: Store, currency: str, query: str = "", limit: int = 40
) -> list[VariantOption]:
    qs = (
        Variant.objects.filter(store=store, currency=currency)
        .filter(Q(inventory_quantity__isnull=True) | Q(inventory_quantity__gt=0))
        .select_related("product")
        .order_by("product__title", "id")
    )
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


def return_eligibility(
    *,
    store: Store,
    order: Order,
    now: datetime | None = None,
    gift: bool = False,
    locale: str = "en",
) -> OrderEligibility:
    now = now or clock.now()
    compiled = compiled_rules(store=store)
    lines = list(
        OrderLine.objects.filter(order=order).select_related("product", "variant").order_by("id")
    )
    currency = order.currency
    delivered = delivered_at(order)
    facts = order_facts(store=store, order=order, now=now, gift=gift, delivered=delivered)
    nets = line_net_amounts(order, lines)
    taken = returned_quantities(order)
    all_reasons = reasons(store=store)
    leaves = leaf_reasons(all_reasons)
    open_returns = list(
        ReturnRequest.objects.filter(order=order, status__in=OPEN_STATUSES).order_by("id")
    )
    order_message = ""
    if order.status == Order.Status.CANCELLED:
        order_message = "This order was cancelled, so there is nothing to return."
    elif (
        delivered is None
        and order.fulfillment_status == Order.FulfillmentStatus.UNFULFILLED
        and order.channel != Order.Channel.IN_STORE  # taken home from the shop
    ):
        order_message = "This order has not shipped yet. You can return items once they arrive."
    variants_by_product = _exchange_variants(store, lines, currency)
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
    )


def _exchange_variants(store: Store, lines: list[OrderLine], currency: str):
    product_ids = {line.product_id for line in lines if line.product_id}
    by_product: dict[int, list[Variant]] = defaultdict(list)
    if product_ids:
        for variant in Variant.objects.filter(
            store=store, product_id__in=product_ids, currency=currency
        ).select_related("product"):
            by_product[variant.product_id].append(variant)
    return by_product


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
