"""Writes to returns: quote and create a return, move it through its lifecycle, pay it out.

Check, then do: `return_quote` / `return_request_check` raise DomainError and write nothing;
`return_request_create` re-checks under the order's row lock and writes the return, its lines,
photos and first transition together. Every status change goes through `_transition`, which
refuses an illegal move with Conflict (409) before anything is written, records who made it, and
emits `return.<status>`. Money: refunds are executed by the merchant's platform (we emit
refund.requested and record the orders.Refund when the platform confirms); store credit is our
own ledger (credit.py); exchanges create a replacement order through orders services.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Min, Q, Sum

from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.core.events import emit
from aftersale.core.models import Store
from aftersale.core.money import quantize
from aftersale.core.services import Conflict, DomainError, NotFound
from aftersale.customers.models import Customer
from aftersale.customers.schemas import AddressIn, CustomerIn
from aftersale.customers.services import customer_upsert
from aftersale.orders.models import Order, OrderLine
from aftersale.orders.schemas import OrderIn, OrderLineIn, RefundIn, RefundLineIn
from aftersale.orders.services import order_aggregate, order_upsert, refund_create
from aftersale.returns import credit as credit_ledger
from aftersale.returns.fraud import FraudFacts, fraud_signals
from aftersale.returns.models import (
    Outcome,
    ReturnLabel,
    ReturnLine,
    ReturnPhoto,
    ReturnReason,
    ReturnRequest,
    ReturnRuleSet,
    ReturnTransition,
    private_storage,
)
from aftersale.returns.rules import (
    TIMING_ORDER,
    Decision,
    LineFacts,
    OrderFacts,
    compile_rules,
    dump_definition,
    evaluate,
    order_pass,
    validate_definition,
)
from aftersale.returns.schemas import (
    MAX_PHOTOS_PER_LINE,
    PHOTO_TYPES,
    PhotoIn,
    ReturnCreateIn,
)
from aftersale.returns.selectors import (
    LIVE,
    RESOLVED_BY_OUTCOME,
    RETURN_SHIPMENT_SOURCE,
    OrderEligibility,
    amount_for,
    compiled_from,
    compiled_rules,
    definition_fingerprint,
    in_stock,
    leaf_reasons,
    line_facts,
    reason_facts,
    return_eligibility,
    return_status_token,
    store_zone,
    unit_amount,
)
from aftersale.tracking.models import Shipment

S = ReturnRequest.Status


# -- who did it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    kind: str
    user: object | None = None
    label: str = ""

    @classmethod
    def shopper(cls, label: str = "") -> Actor:
        return cls(ReturnTransition.ActorKind.SHOPPER, None, label)

    @classmethod
    def staff(cls, user) -> Actor:
        return cls(ReturnTransition.ActorKind.STAFF, user, getattr(user, "username", "") or "")

    @classmethod
    def system(cls, label: str = "") -> Actor:
        return cls(ReturnTransition.ActorKind.SYSTEM, None, label)

    @classmethod
    def carrier(cls, label: str = "") -> Actor:
        return cls(ReturnTransition.ActorKind.CARRIER, None, label)

    @classmethod
    def platform(cls, label: str = "") -> Actor:
        return cls(ReturnTransition.ActorKind.PLATFORM, None, label)


# -- the quote --------------------------------------------------------------------------------


@dataclass
class QuoteLine:
    line: OrderLine
    quantity: int
    reason: ReturnReason
    comment: str
    unit_amount: Decimal
    amount: Decimal
    fee_amount: Decimal
    bonus_amount: Decimal
    exchange_variant: Variant | None
    exchange_unit_price: Decimal
    photos_required: bool
    decision: Decision


@dataclass
class ReturnQuote:
    currency: str
    outcome: str
    lines: list[QuoteLine]
    items_amount: Decimal
    return_fee: Decimal
    fee_amount: Decimal
    bonus_amount: Decimal
    exchange_amount: Decimal
    upcharge_amount: Decimal
    total_amount: Decimal
    refund_timing: str
    requires_review: bool
    fraud_review: bool
    ship_exchange_first: bool
    shipping_methods: list[str]
    shipping_method: str
    matched_rules: list[str]
    upcharge_payment_url: str
    facts: OrderFacts | None = None
    window_days: int = 0
    rule_fraud_ids: list[str] = field(default_factory=list)


EXCHANGES = ("exchange_same", "exchange_other")


def _fees_waived(outcome: str, decision: Decision, reason: ReturnReason) -> bool:
    return (
        outcome == "keep_item"
        or reason.merchant_fault
        or (outcome in EXCHANGES and decision.waive_fees_for_exchange)
        or (outcome == "store_credit" and decision.waive_fees_for_credit)
    )


def return_quote(
    *,
    store: Store,
    order: Order,
    data: ReturnCreateIn,
    now: datetime | None = None,
    eligibility: OrderEligibility | None = None,
) -> ReturnQuote:
    """What this return would be, priced by the server; DomainError for anything not allowed.

    `eligibility`: return_eligibility of this order (and gift flag) already worked out in the
    same request — a page that prices several outcomes or methods reads the order once. Its
    moment stands for `now`. Without it (and for create, which quotes under the order's lock)
    the quote reads everything itself."""
    if order.store_id != store.pk:
        raise NotFound("no such order in this store")
    if (
        eligibility is None
        or eligibility.compiled is None
        or eligibility.order.pk != order.pk
        or eligibility.gift != data.gift
    ):
        eligibility = return_eligibility(
            store=store, order=order, now=now or clock.now(), gift=data.gift
        )
    if not eligibility.eligible:
        raise DomainError(eligibility.deny_message, field="order")
    compiled = eligibility.compiled
    by_line = {le.line_id: le for le in eligibility.lines}
    leaves = {r.code: r for r in leaf_reasons(eligibility.reasons)}
    facts = eligibility.facts
    currency = order.currency
    nets = eligibility.nets
    wanted = {item.exchange_variant for item in data.items if item.exchange_variant}
    variants = {}
    if wanted and data.outcome in EXCHANGES:
        variants = {
            v.public_id: v
            for v in Variant.objects.filter(store=store, public_id__in=wanted).select_related(
                "product"
            )
        }
    quote_lines: list[QuoteLine] = []
    for index, item in enumerate(data.items):
        where = f"items.{index}"
        le = by_line.get(item.line)
        if le is None:
            raise DomainError(
                f"order {order.number} has no line {item.line!r}", field=f"{where}.line"
            )
        if not le.eligible:
            raise DomainError(le.deny_message, field=f"{where}.line")
        if item.quantity > le.returnable_qty:
            raise DomainError(
                f"{le.title}: {le.quantity_bought} bought, {le.quantity_returned} already "
                f"returned, {item.quantity} asked",
                field=f"{where}.quantity",
            )
        reason = leaves.get(item.reason)
        if reason is None:
            raise DomainError(
                f"{item.reason!r} is not one of this store's return reasons (pick a sub-reason "
                "where there is one)",
                field=f"{where}.reason",
            )
        lfacts = line_facts(le.line, le.unit_amount)
        decision = evaluate(compiled, facts, lfacts, reason_facts(reason))
        if not decision.allowed:
            raise DomainError(decision.deny_message, field=f"{where}.reason")
        if data.outcome not in decision.outcomes:
            raise DomainError(
                f"{Outcome(data.outcome).label} is not offered for {le.title}", field="outcome"
            )
        variant = _exchange_variant(order, le, item, data.outcome, where, variants)
        amount = amount_for(nets[le.line.pk], le.quantity_bought, item.quantity, currency)
        fee = Decimal(0)
        if not _fees_waived(data.outcome, decision, reason):
            fee = quantize(amount * decision.restocking_fee_percent / 100, currency)
        bonus = Decimal(0)
        if data.outcome == "store_credit":
            bonus = quantize(amount * decision.credit_bonus_percent / 100, currency)
        elif data.outcome in EXCHANGES:
            bonus = quantize(amount * decision.exchange_bonus_percent / 100, currency)
        quote_lines.append(
            QuoteLine(
                line=le.line,
                quantity=item.quantity,
                reason=reason,
                comment=item.comment,
                unit_amount=le.unit_amount,
                amount=amount,
                fee_amount=fee,
                bonus_amount=bonus,
                exchange_variant=variant,
                exchange_unit_price=variant.price if variant else Decimal(0),
                photos_required=decision.require_photos or reason.requires_photos,
                decision=decision,
            )
        )
    decisions = [q.decision for q in quote_lines]
    methods = sorted(set.intersection(*(set(d.shipping_methods) for d in decisions)))
    method = data.shipping_method
    if data.outcome == "keep_item":
        method = ReturnRequest.ShippingMethod.NONE
    elif method == "none" or method not in methods:
        raise DomainError(
            f"send it back by one of: {', '.join(methods) or 'none offered'}",
            field="shipping_method",
        )
    return_fee = Decimal(0)
    waived = any(_fees_waived(data.outcome, q.decision, q.reason) for q in quote_lines)
    if not waived and method != ReturnRequest.ShippingMethod.IN_STORE:
        return_fee = quantize(max(d.return_fee for d in decisions), currency)
    items_amount = sum((q.amount for q in quote_lines), Decimal(0))
    fee_amount = sum((q.fee_amount for q in quote_lines), Decimal(0)) + return_fee
    bonus_amount = sum((q.bonus_amount for q in quote_lines), Decimal(0))
    exchange_amount = quantize(
        sum((q.exchange_unit_price * q.quantity for q in quote_lines), Decimal(0)), currency
    )
    upcharge = Decimal(0)
    if data.outcome in ("refund", "keep_item"):
        total = items_amount - fee_amount
    elif data.outcome == "store_credit":
        total = items_amount - fee_amount + bonus_amount
    else:
        value = items_amount - fee_amount + bonus_amount
        upcharge = max(exchange_amount - value, Decimal(0))
        total = max(value - exchange_amount, Decimal(0))
    total = max(quantize(total, currency), Decimal(0))
    matched: list[str] = []
    for d in decisions:
        matched += [rule for rule in d.matched if rule not in matched]
    fraud_rules = [r.id for r in compiled.rules if r.id in matched and _sets(r, "fraud_review")]
    return ReturnQuote(
        currency=currency,
        outcome=data.outcome,
        lines=quote_lines,
        items_amount=quantize(items_amount, currency),
        return_fee=return_fee,
        fee_amount=quantize(fee_amount, currency),
        bonus_amount=quantize(bonus_amount, currency),
        exchange_amount=exchange_amount,
        upcharge_amount=quantize(upcharge, currency),
        total_amount=total,
        refund_timing=max((d.refund_timing for d in decisions), key=TIMING_ORDER.__getitem__),
        requires_review=any(d.review == "review" for d in decisions),
        fraud_review=any(d.fraud_review for d in decisions),
        ship_exchange_first=data.outcome in EXCHANGES
        and all(d.ship_exchange_first for d in decisions),
        shipping_methods=methods,
        shipping_method=method,
        matched_rules=matched,
        upcharge_payment_url=compiled.upcharge_payment_url,
        facts=facts,
        window_days=min(d.window_days for d in decisions),
        rule_fraud_ids=fraud_rules,
    )


def _sets(rule, name: str) -> bool:
    return any(key == name and value for key, value in rule.sets)


def _exchange_variant(order, le, item, outcome: str, where: str, found: dict) -> Variant | None:
    if outcome not in EXCHANGES:
        if item.exchange_variant:
            raise DomainError(
                "an exchange variant only goes with an exchange", field=f"{where}.exchange_variant"
            )
        return None
    if not item.exchange_variant:
        raise DomainError("choose what to exchange it for", field=f"{where}.exchange_variant")
    variant = found.get(item.exchange_variant)  # the store's variants asked for, read at once
    if variant is None:
        raise DomainError("no such variant in this store", field=f"{where}.exchange_variant")
    if variant.currency != order.currency:
        raise DomainError(
            f"that variant is priced in {variant.currency}, the order in {order.currency}",
            field=f"{where}.exchange_variant",
        )
    if outcome == "exchange_same" and (
        variant.product_id != le.line.product_id or variant.pk == le.line.variant_id
    ):
        raise DomainError(
            "an exchange for the same product needs another variant of it",
            field=f"{where}.exchange_variant",
        )
    if not in_stock(variant) or (
        variant.inventory_quantity is not None and variant.inventory_quantity < item.quantity
    ):
        raise DomainError(f"{variant} is out of stock", field=f"{where}.exchange_variant")
    return variant


def return_request_check(
    *,
    store: Store,
    order: Order,
    data: ReturnCreateIn,
    photos: Mapping[str, Sequence[PhotoIn]] | None = None,
    now: datetime | None = None,
) -> ReturnQuote:
    """Everything create checks, without writing: the quote, photos, the shown total."""
    quote = return_quote(store=store, order=order, data=data, now=now)
    photos = photos or {}
    lines_by_id = {q.line.public_id: index for index, q in enumerate(quote.lines)}
    for line_id, files in photos.items():
        if line_id not in lines_by_id:
            raise DomainError(
                f"photos for {line_id!r}, which is not being returned", field="photos"
            )
        index = lines_by_id[line_id]
        if len(files) > MAX_PHOTOS_PER_LINE:
            raise DomainError(
                f"at most {MAX_PHOTOS_PER_LINE} photos per item", field=f"items.{index}.photos"
            )
        for photo in files:
            if photo.content_type not in PHOTO_TYPES:
                raise DomainError(
                    "photos must be JPEG, PNG or WebP images", field=f"items.{index}.photos"
                )
    for index, q in enumerate(quote.lines):
        if q.photos_required and not photos.get(q.line.public_id):
            raise DomainError(
                f"add at least one photo of {q.line.title} for this reason",
                field=f"items.{index}.photos",
            )
    if data.expected_total is not None:
        shown = quantize(data.expected_total, quote.currency)
        if shown != quote.total_amount:
            raise DomainError(
                f"the amount is {quote.total_amount} {quote.currency}, not {shown}: review the "
                "return and confirm again",
                field="expected_total",
            )
    return quote


# -- payloads and events ----------------------------------------------------------------------


def return_payload(ret: ReturnRequest) -> dict:
    currency = ret.currency
    return {
        "id": ret.public_id,
        "reference": ret.reference,
        "order_id": ret.order.public_id,
        "customer_id": ret.customer.public_id if ret.customer_id else None,
        "status": ret.status,
        "outcome": ret.outcome,
        "shipping_method": ret.shipping_method,
        "refund_timing": ret.refund_timing,
        "is_gift": ret.is_gift,
        "currency": currency,
        "items_amount": str(quantize(ret.items_amount, currency)),
        "fee_amount": str(quantize(ret.fee_amount, currency)),
        "bonus_amount": str(quantize(ret.bonus_amount, currency)),
        "exchange_amount": str(quantize(ret.exchange_amount, currency)),
        "upcharge_amount": str(quantize(ret.upcharge_amount, currency)),
        "total_amount": str(quantize(ret.total_amount, currency)),
        "fraud_flagged": ret.fraud_flagged,
        "status_url_token": return_status_token(ret),
        "lines": [
            {
                "id": line.public_id,
                "line_id": line.order_line.public_id,
                "sku": line.order_line.sku,
                "quantity": line.quantity,
                "reason": line.reason_code,
                "amount": str(quantize(line.amount, currency)),
                "exchange_variant_id": (
                    line.exchange_variant.public_id if line.exchange_variant_id else None
                ),
            }
            for line in ret.lines.select_related("order_line", "exchange_variant")
        ],
    }


def _emit(store: Store, ret: ReturnRequest, name: str, **extra) -> None:
    emit(
        store=store,
        name=name,
        aggregate=order_aggregate(ret.order),
        payload={**return_payload(ret), **extra},
    )


# -- create -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateResult:
    request: ReturnRequest
    created: bool


def _by_key(store: Store, key: str) -> ReturnRequest | None:
    return ReturnRequest.objects.filter(store=store, idempotency_key=key).first()


def return_request_create(
    *,
    store: Store,
    order: Order,
    data: ReturnCreateIn,
    photos: Mapping[str, Sequence[PhotoIn]] | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> CreateResult:
    """Create the return the shopper confirmed. The same idempotency key again returns the first
    one (created=False). Auto-approved by the rules unless a rule or a fraud signal says review."""
    actor = actor or Actor.shopper()
    existing = _by_key(store, data.idempotency_key)
    if existing is not None:
        return CreateResult(existing, False)
    try:
        with _files_removed_on_failure(), transaction.atomic():
            Order.objects.select_for_update().filter(pk=order.pk, store=store).first()
            existing = _by_key(store, data.idempotency_key)
            if existing is not None:
                return CreateResult(existing, False)
            now = now or clock.now()
            quote = return_request_check(
                store=store, order=order, data=data, photos=photos, now=now
            )
            ret = _write_return(store, order, data, quote, photos or {}, actor, now)
    except IntegrityError:
        existing = _by_key(store, data.idempotency_key)
        if existing is None:
            raise
        return CreateResult(existing, False)
    return CreateResult(ret, True)


def _reserve_stock(quote: ReturnQuote) -> None:
    """Take the exchange units out of stock now, so two shoppers cannot get the last one."""
    wanted: dict[int, int] = {}
    for q in quote.lines:
        if q.exchange_variant is not None:
            wanted[q.exchange_variant.pk] = wanted.get(q.exchange_variant.pk, 0) + q.quantity
    for pk in sorted(wanted):
        variant = Variant.objects.select_for_update().get(pk=pk)
        if variant.inventory_quantity is None:
            continue
        moved = Variant.objects.filter(pk=pk, inventory_quantity__gte=wanted[pk]).update(
            inventory_quantity=F("inventory_quantity") - wanted[pk]
        )
        if not moved:
            index = next(
                i
                for i, q in enumerate(quote.lines)
                if q.exchange_variant is not None and q.exchange_variant.pk == pk
            )
            raise DomainError(f"{variant} is out of stock", field=f"items.{index}.exchange_variant")


def _release_stock(ret: ReturnRequest) -> None:
    for line in ret.lines.filter(exchange_variant__isnull=False).order_by("exchange_variant_id"):
        Variant.objects.filter(
            pk=line.exchange_variant_id, inventory_quantity__isnull=False
        ).update(inventory_quantity=F("inventory_quantity") + line.quantity)


def fraud_assess(
    *, store: Store, order: Order, data: ReturnCreateIn, quote: ReturnQuote, now: datetime
) -> list[dict[str, str]]:
    """The fraud signals a return like this fires (nothing is written)."""
    return _fraud(store, order, data, quote, now)


def _fraud(store: Store, order: Order, data: ReturnCreateIn, quote: ReturnQuote, now) -> list:
    compiled = compiled_rules(store=store)
    customer_id = order.customer_id
    returns_year = returns_all = orders = 0
    if customer_id is not None:
        live = ReturnRequest.objects.filter(LIVE, store=store, customer_id=customer_id)
        returns_all = live.count()
        returns_year = live.filter(requested_at__gte=now - timedelta(days=365)).count()
        orders = (
            Order.objects.filter(store=store, customer_id=customer_id)
            .exclude(status=Order.Status.CANCELLED)
            .exclude(exchange_for__isnull=False)  # replacement orders of exchanges
            .count()
        )
    address = order.shipping_address if order.shipping_address_id else None
    codes: list[str] = []
    for q in quote.lines:
        codes.append(q.reason.code)
        if q.reason.parent_id:
            codes.append(q.reason.parent.code)
    facts = FraudFacts(
        currency=quote.currency,
        returns_last_year=returns_year,
        orders=orders,
        returns_total=returns_all,
        total_amount=quote.total_amount,
        items_amount=quote.items_amount,
        reason_codes=tuple(codes),
        days_since_delivery=quote.facts.days_since_delivery if quote.facts else 0,
        window_days=quote.window_days,
        delivered=bool(quote.facts and quote.facts.delivered),
        order_postal_code=address.postal_code if address else "",
        order_country=address.country if address else "",
        sender_postal_code=data.sender_postal_code,
        sender_country=data.sender_country,
        rule_flag=quote.fraud_review,
        rule_ids=tuple(quote.rule_fraud_ids),
        has_shipments=Shipment.objects.filter(order=order)
        .exclude(source=RETURN_SHIPMENT_SOURCE)
        .exists(),
    )
    return fraud_signals(facts, compiled.fraud)


def return_rows_create(
    store, order, data, quote: ReturnQuote, signals: list, now, photos=None
) -> ReturnRequest:
    """The return and its lines (and photos) as quoted, in the state "requested": rows only — no
    stock, transition or event (the demo's history writes returns with this too)."""
    photos = photos or {}
    number = ReturnRequest.objects.filter(order=order).count() + 1
    label = order.number if order.number.startswith("#") else f"#{order.number}"
    ret = ReturnRequest.objects.create(
        store=store,
        order=order,
        customer_id=order.customer_id,
        reference=f"{label}-R{number}",
        status=S.REQUESTED,
        outcome=quote.outcome,
        shipping_method=quote.shipping_method,
        refund_timing=quote.refund_timing,
        is_gift=data.gift,
        gift_recipient_email=(data.gift_recipient_email or "").lower(),
        gift_recipient_name=data.gift_recipient_name,
        comment=data.comment,
        locale=data.locale,
        sender_postal_code=data.sender_postal_code,
        sender_country=data.sender_country.upper(),
        idempotency_key=data.idempotency_key,
        currency=quote.currency,
        items_amount=quote.items_amount,
        bonus_amount=quote.bonus_amount,
        fee_amount=quote.fee_amount,
        exchange_amount=quote.exchange_amount,
        upcharge_amount=quote.upcharge_amount,
        total_amount=quote.total_amount,
        requires_review=quote.requires_review,
        ship_exchange_first=quote.ship_exchange_first,
        matched_rules=quote.matched_rules,
        fraud_flagged=bool(signals),
        fraud_signals=signals,
        requested_at=now,
    )
    for q in quote.lines:
        line = ReturnLine.objects.create(
            store=store,
            request=ret,
            order_line=q.line,
            quantity=q.quantity,
            reason=q.reason,
            reason_code=q.reason.code,
            parent_reason_code=q.reason.parent.code if q.reason.parent_id else q.reason.code,
            comment=q.comment,
            unit_amount=q.unit_amount,
            amount=q.amount,
            fee_amount=q.fee_amount,
            exchange_variant=q.exchange_variant,
            exchange_unit_price=q.exchange_unit_price,
            photos_required=q.photos_required,
        )
        for photo in photos.get(q.line.public_id, []):
            _save_photo(store, line, photo, now)
    return ret


def _write_return(
    store, order, data, quote: ReturnQuote, photos, actor: Actor, now
) -> ReturnRequest:
    _reserve_stock(quote)
    signals = _fraud(store, order, data, quote, now)
    ret = return_rows_create(store, order, data, quote, signals, now, photos)
    ReturnTransition.objects.create(
        store=store,
        request=ret,
        from_status="",
        to_status=S.REQUESTED,
        at=now,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_label=actor.label,
    )
    _emit(store, ret, "return.requested")
    if not ret.requires_review and not ret.fraud_flagged:
        _transition(store, ret, S.APPROVED, Actor.system("rules: auto-approve"), now)
        _after(store, ret, now)
    return ret


# The photo files written inside the running write, removed again when it fails: a rolled-back
# transaction takes the rows but not the files (Django has no on_rollback hook).
_written_files: ContextVar[list[str] | None] = ContextVar("returns_written_files", default=None)


@contextmanager
def _files_removed_on_failure():
    written: list[str] = []
    token = _written_files.set(written)
    try:
        yield
    except BaseException:
        for name in written:
            private_storage.delete(name)
        raise
    finally:
        _written_files.reset(token)


def _save_photo(store: Store, line: ReturnLine, photo: PhotoIn, now) -> ReturnPhoto:
    row = ReturnPhoto(
        store=store,
        line=line,
        content_type=photo.content_type,
        size=len(photo.content),
        width=photo.width,
        height=photo.height,
        sha256=hashlib.sha256(photo.content).hexdigest(),
        uploaded_at=now,
    )
    row.file.save(f"{row.public_id}", ContentFile(photo.content), save=False)
    written = _written_files.get()
    if written is not None:
        written.append(row.file.name)
    row.save()
    return row


def return_photo_add(
    *, store: Store, ret: ReturnRequest, line: str, photo: PhotoIn, actor: Actor
) -> ReturnPhoto:
    if photo.content_type not in PHOTO_TYPES:
        raise DomainError("photos must be JPEG, PNG or WebP images", field="photo")
    with _files_removed_on_failure(), transaction.atomic():
        ret = _lock(store, ret)
        if ret.status not in (S.REQUESTED, S.APPROVED, S.LABEL_ISSUED):
            raise Conflict(f"photos cannot be added to a return that is {ret.get_status_display()}")
        row = ret.lines.filter(public_id=line).first()
        if row is None:
            raise DomainError(f"this return has no line {line!r}", field="line")
        if row.photos.count() >= MAX_PHOTOS_PER_LINE:
            raise DomainError(f"at most {MAX_PHOTOS_PER_LINE} photos per item", field="photo")
        return _save_photo(store, row, photo, clock.now())


# -- the lifecycle ----------------------------------------------------------------------------

RESOLVED = (S.REFUNDED, S.CREDITED, S.EXCHANGED)
ALLOWED: dict[str, set[str]] = {
    S.REQUESTED: {S.APPROVED, S.REJECTED, S.CANCELLED},
    S.APPROVED: {S.LABEL_ISSUED, S.IN_TRANSIT, S.RECEIVED, *RESOLVED, S.CANCELLED},
    S.LABEL_ISSUED: {S.LABEL_ISSUED, S.IN_TRANSIT, S.RECEIVED, S.CANCELLED},
    S.IN_TRANSIT: {S.RECEIVED, *RESOLVED},
    S.RECEIVED: {S.INSPECTED, *RESOLVED},
    S.INSPECTED: {*RESOLVED},
    S.REFUNDED: {S.CLOSED},
    S.CREDITED: {S.CLOSED},
    S.EXCHANGED: {S.CLOSED},
    S.REJECTED: set(),
    S.CANCELLED: set(),
    S.CLOSED: set(),
}
STAMPS = {
    S.APPROVED: "approved_at",
    S.RECEIVED: "received_at",
    S.INSPECTED: "inspected_at",
    S.REFUNDED: "resolved_at",
    S.CREDITED: "resolved_at",
    S.EXCHANGED: "resolved_at",
    S.CLOSED: "closed_at",
    S.CANCELLED: "cancelled_at",
}


def transition_check(ret: ReturnRequest, to: str) -> None:
    """Conflict (409) when the return cannot move to `to` from where it is."""
    label = dict(S.choices)
    if to not in ALLOWED.get(ret.status, set()):
        raise Conflict(
            f"a return that is {label[ret.status].lower()} cannot become {label[to].lower()}",
            field="status",
        )
    if to in RESOLVED:
        expected = RESOLVED_BY_OUTCOME[ret.outcome]
        if to != expected:
            raise Conflict(
                f"this return's outcome is {ret.outcome}; it becomes {label[expected].lower()}",
                field="status",
            )
        if ret.status == S.APPROVED and not (ret.is_returnless or ret.ship_exchange_first):
            raise Conflict("the items have not been sent back yet", field="status")


def _lock(store: Store, ret: ReturnRequest) -> ReturnRequest:
    locked = (
        ReturnRequest.objects.select_for_update(of=("self",))
        .filter(pk=ret.pk, store=store)
        .select_related("order", "customer")
        .first()
    )
    if locked is None:
        raise NotFound(f"no return {ret.public_id!r} in this store")
    return locked


def _transition(
    store: Store, ret: ReturnRequest, to: str, actor: Actor, now, note: str = "", **extra
) -> None:
    transition_check(ret, to)
    previous = ret.status
    ret.status = to
    fields = ["status", "updated_at"]
    stamp = STAMPS.get(to)
    if stamp and getattr(ret, stamp) is None:
        setattr(ret, stamp, now)
        fields.append(stamp)
    ret.save(update_fields=fields)
    ReturnTransition.objects.create(
        store=store,
        request=ret,
        from_status=previous,
        to_status=to,
        at=now,
        actor_kind=actor.kind,
        actor_user=actor.user if getattr(actor.user, "pk", None) else None,
        actor_label=actor.label[:200],
        note=note[:500],
    )
    if to != previous:
        _emit(store, ret, f"return.{to}", **extra)


def _after(store: Store, ret: ReturnRequest, now) -> None:
    """What follows on its own once a return reaches a step: pay out when the rules say so, and
    close when nothing more is expected."""
    system = Actor.system("rules")
    timing = ret.refund_timing
    due = False
    if ret.status == S.APPROVED:
        due = ret.is_returnless or ret.ship_exchange_first
    elif ret.status == S.IN_TRANSIT:
        due = timing == ReturnRequest.RefundTiming.INSTANT
    elif ret.status == S.RECEIVED:
        due = timing != ReturnRequest.RefundTiming.AFTER_INSPECTION
    elif ret.status == S.INSPECTED:
        due = True
    if due:
        _resolve(store, ret, now)
    if ret.status in RESOLVED and (ret.is_returnless or ret.received_at is not None):
        _transition(store, ret, S.CLOSED, system, now)


def _resolve(store: Store, ret: ReturnRequest, now) -> None:
    """Pay the return out: ask the platform for the refund, issue the credit, or create the
    replacement order. Each part runs once however often it is reached."""
    if ret.outcome in ("refund", "keep_item"):
        if ret.refund_state == ReturnRequest.RefundState.NONE:
            ret.refund_state = ReturnRequest.RefundState.REQUESTED
            ret.refund_requested_at = now
            ret.save(update_fields=["refund_state", "refund_requested_at", "updated_at"])
            _emit(
                store,
                ret,
                "refund.requested",
                order_external_id=ret.order.external_id,
                order_source=ret.order.source,
            )
        return
    if ret.outcome == "store_credit":
        entry = _issue_credit(store, ret, ret.total_amount, "store credit for return", now)
        _transition(
            store, ret, S.CREDITED, Actor.system("store credit"), now, credit=_credit_info(entry)
        )
        return
    if ret.exchange_order_id is None:
        _create_exchange_order(store, ret, now)
    extra: dict = {}
    if ret.upcharge_amount > 0:
        extra["upcharge_payment_url"] = compiled_rules(store=store).upcharge_payment_url
    if ret.total_amount > 0:
        entry = _issue_credit(store, ret, ret.total_amount, "exchange difference for return", now)
        extra["credit"] = _credit_info(entry)
    _transition(
        store,
        ret,
        S.EXCHANGED,
        Actor.system("exchange order"),
        now,
        exchange_order_id=ret.exchange_order.public_id,
        exchange_order_external_id=ret.exchange_order_external_id,
        **extra,
    )


def _credit_owner(store: Store, ret: ReturnRequest) -> Customer:
    if ret.is_gift and ret.gift_recipient_email:
        first, _, last = ret.gift_recipient_name.partition(" ")
        data = CustomerIn(email=ret.gift_recipient_email)
        if ret.gift_recipient_name:
            data = CustomerIn(email=ret.gift_recipient_email, first_name=first, last_name=last)
        customer, _ = customer_upsert(store=store, data=data, source="returns")
        return customer
    if ret.customer_id:
        return ret.customer
    if ret.order.email:
        customer, _ = customer_upsert(
            store=store, data=CustomerIn(email=ret.order.email), source="returns"
        )
        return customer
    raise Conflict("this order has no customer or email to give store credit to")


def _issue_credit(store: Store, ret: ReturnRequest, amount: Decimal, cause: str, now):
    if amount <= 0:
        return None
    days = compiled_rules(store=store).credit_expiry_days
    result = credit_ledger.credit_issue(
        store=store,
        customer=_credit_owner(store, ret),
        amount=amount,
        currency=ret.currency,
        cause=f"{cause} {ret.reference}",
        idempotency_key=f"return:{ret.public_id}",
        return_request=ret,
        expires_at=now + timedelta(days=days) if days else None,
        now=now,
    )
    return result.entry


def _credit_info(entry) -> dict:
    if entry is None:
        return {}
    account = entry.account
    return {
        "account_id": account.public_id,
        "code_last4": account.code[-4:],
        "amount": str(quantize(entry.amount, account.currency)),
        "balance": str(quantize(entry.balance_after, account.currency)),
        "recipient_customer_id": account.customer.public_id,
    }


def _address_in(order: Order) -> AddressIn | None:
    address = order.shipping_address if order.shipping_address_id else None
    if address is None:
        return None
    return AddressIn(
        name=address.name,
        company=address.company,
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        region=address.region,
        postal_code=address.postal_code,
        country=address.country,
        phone=address.phone,
    )


def _create_exchange_order(store: Store, ret: ReturnRequest, now) -> None:
    """The replacement order, through orders services: the new items, paid by the return (and
    the upcharge, when the new items cost more)."""
    order = ret.order
    lines = list(
        ret.lines.filter(exchange_variant__isnull=False).select_related("exchange_variant__product")
    )
    if not lines:
        raise Conflict("this exchange has no replacement items")
    currency = ret.currency
    exchange_amount = quantize(
        sum((line.exchange_unit_price * line.quantity for line in lines), Decimal(0)), currency
    )
    upcharge = quantize(ret.upcharge_amount, currency)
    external_id = f"exchange-{ret.public_id}"
    email = order.email or (ret.customer.email if ret.customer_id else "")
    data = OrderIn(
        external_id=external_id,
        number=f"{order.number.lstrip('#')}-EX{ret.reference.rsplit('-R', 1)[-1]}",
        source=order.source,
        financial_status="paid" if upcharge == 0 else "pending",
        channel=order.channel,
        currency=currency,
        subtotal=exchange_amount,
        discount_total=exchange_amount - upcharge,
        total=upcharge,
        placed_at=now,
        email=email or None,
        shipping_address=_address_in(order),
        tags=["exchange", f"return:{ret.public_id}"],
        note=f"Exchange for return {ret.reference} of order {order.number}",
        lines=[
            OrderLineIn(
                external_id=f"{line.public_id}",
                sku=line.exchange_variant.sku,
                title=line.exchange_variant.product.title,
                variant_title=line.exchange_variant.title,
                unit_price=line.exchange_unit_price,
                quantity=line.quantity,
            )
            for line in lines
        ],
    )
    result = order_upsert(store=store, data=data)
    new_order = result.order
    # Link the catalog directly: the variants may come from another source than the order.
    for row in OrderLine.objects.filter(order=new_order):
        line = next((x for x in lines if x.public_id == row.external_id), None)
        if line is not None and row.variant_id != line.exchange_variant_id:
            OrderLine.objects.filter(pk=row.pk).update(
                variant_id=line.exchange_variant_id, product_id=line.exchange_variant.product_id
            )
    if ret.customer_id and new_order.customer_id != ret.customer_id:
        Order.objects.filter(pk=new_order.pk).update(customer_id=ret.customer_id)
    ret.exchange_order = new_order
    ret.exchange_order_external_id = external_id
    ret.save(update_fields=["exchange_order", "exchange_order_external_id", "updated_at"])


# -- staff, carrier and platform steps --------------------------------------------------------


def return_approve(
    *, store: Store, ret: ReturnRequest, actor: Actor, note: str = ""
) -> ReturnRequest:
    with transaction.atomic():
        ret = _lock(store, ret)
        now = clock.now()
        _transition(store, ret, S.APPROVED, actor, now, note)
        _after(store, ret, now)
    return ret


def return_reject(*, store: Store, ret: ReturnRequest, actor: Actor, reason: str) -> ReturnRequest:
    if not reason.strip():
        raise DomainError("say why the return is rejected", field="reason")
    with transaction.atomic():
        ret = _lock(store, ret)
        transition_check(ret, S.REJECTED)
        ret.rejection_reason = reason.strip()[:300]
        ret.save(update_fields=["rejection_reason", "updated_at"])
        _release_stock(ret)
        _transition(store, ret, S.REJECTED, actor, clock.now(), reason, reason=ret.rejection_reason)
    return ret


def return_cancel(
    *, store: Store, ret: ReturnRequest, actor: Actor, note: str = ""
) -> ReturnRequest:
    with transaction.atomic():
        ret = _lock(store, ret)
        transition_check(ret, S.CANCELLED)
        now = clock.now()
        ret.labels.filter(voided_at__isnull=True).update(voided_at=now)
        _release_stock(ret)
        _transition(store, ret, S.CANCELLED, actor, now, note)
    return ret


def return_receive(
    *, store: Store, ret: ReturnRequest, actor: Actor, note: str = "", now: datetime | None = None
) -> ReturnRequest:
    """The parcel arrived (staff at the warehouse or the carrier's delivery scan). For a return
    already paid out (instant refund, exchange shipped first) this records the arrival and closes
    it."""
    with transaction.atomic():
        ret = _lock(store, ret)
        now = now or clock.now()
        _receive_locked(store, ret, actor, now, note)
    return ret


def _receive_locked(store: Store, ret: ReturnRequest, actor: Actor, now, note: str = "") -> None:
    if ret.status in RESOLVED and ret.received_at is None and not ret.is_returnless:
        ret.received_at = now
        ret.save(update_fields=["received_at", "updated_at"])
        ReturnTransition.objects.create(
            store=store,
            request=ret,
            from_status=ret.status,
            to_status=ret.status,
            at=now,
            actor_kind=actor.kind,
            actor_user=actor.user if getattr(actor.user, "pk", None) else None,
            actor_label=actor.label[:200],
            note=(note or "parcel received")[:500],
        )
        _emit(store, ret, "return.received")
        _after(store, ret, now)
        return
    _transition(store, ret, S.RECEIVED, actor, now, note)
    _after(store, ret, now)


def return_inspect(
    *,
    store: Store,
    ret: ReturnRequest,
    actor: Actor,
    lines: Mapping[str, tuple[str, str]],
    notes: str = "",
) -> ReturnRequest:
    """Record condition and disposition per line (every line of the return needs one)."""
    conditions = set(ReturnLine.Condition.values)
    dispositions = set(ReturnLine.Disposition.values)
    with transaction.atomic():
        ret = _lock(store, ret)
        own = {line.public_id: line for line in ret.lines.all()}
        for index, (ref, (condition, disposition)) in enumerate(lines.items()):
            if ref not in own:
                raise DomainError(f"this return has no line {ref!r}", field=f"lines.{index}.line")
            if condition not in conditions:
                raise DomainError("unknown condition", field=f"lines.{index}.condition")
            if disposition not in dispositions:
                raise DomainError("unknown disposition", field=f"lines.{index}.disposition")
        missing = set(own) - set(lines)
        if missing:
            raise DomainError(
                f"inspect every line of the return ({', '.join(sorted(missing))} missing)",
                field="lines",
            )
        received_and_paid = ret.status in (*RESOLVED, S.CLOSED) and ret.received_at is not None
        if ret.status != S.RECEIVED and not (received_and_paid and ret.inspected_at is None):
            transition_check(ret, S.INSPECTED)  # raises the Conflict that explains why
        now = clock.now()
        for ref, (condition, disposition) in lines.items():
            line = own[ref]
            line.condition = condition
            line.disposition = disposition
            line.save(update_fields=["condition", "disposition"])
        if notes:
            ret.staff_notes = (ret.staff_notes + "\n" + notes).strip()
            ret.save(update_fields=["staff_notes", "updated_at"])
        if ret.status == S.RECEIVED:
            _transition(store, ret, S.INSPECTED, actor, now, notes)
            _after(store, ret, now)
        else:
            ret.inspected_at = now
            ret.save(update_fields=["inspected_at", "updated_at"])
            _emit(store, ret, "return.inspected")
    return ret


def return_close(*, store: Store, ret: ReturnRequest, actor: Actor, note: str = ""):
    with transaction.atomic():
        ret = _lock(store, ret)
        _transition(store, ret, S.CLOSED, actor, clock.now(), note)
    return ret


def return_note_add(*, store: Store, ret: ReturnRequest, actor: Actor, note: str):
    note = note.strip()
    if not note:
        raise DomainError("write a note", field="note")
    with transaction.atomic():
        ret = _lock(store, ret)
        stamp = clock.now().strftime("%Y-%m-%d %H:%M")
        ret.staff_notes = (ret.staff_notes + f"\n[{stamp} {actor.label}] {note}").strip()
        ret.save(update_fields=["staff_notes", "updated_at"])
    return ret


def return_refund_confirm(
    *,
    store: Store,
    ret: ReturnRequest,
    external_id: str,
    source: str = "api",
    amount: Decimal | None = None,
    processed_at: datetime | None = None,
    actor: Actor | None = None,
) -> ReturnRequest:
    """The platform refunded the shopper: record the orders.Refund and mark the return refunded.
    The same external id twice changes nothing."""
    actor = actor or Actor.platform(source)
    with transaction.atomic():
        ret = _lock(store, ret)
        if ret.outcome not in ("refund", "keep_item"):
            raise Conflict(f"this return is paid out as {ret.outcome}, not a refund")
        if ret.refund_id is not None:
            if ret.refund.external_id == external_id and ret.refund.source == source:
                return ret
            raise Conflict("this return's refund is already recorded", field="external_id")
        if ret.refund_state != ReturnRequest.RefundState.REQUESTED:
            transition_check(ret, S.REFUNDED)
        lines = list(ret.lines.select_related("order_line"))
        value = quantize(amount if amount is not None else ret.total_amount, ret.currency)
        if value <= 0:
            raise DomainError("nothing to refund on this return", field="amount")
        data = RefundIn(
            external_id=external_id,
            source=source,
            amount=value,
            currency=ret.currency,
            reason=f"return {ret.reference}",
            processed_at=processed_at,
            lines=[
                RefundLineIn(
                    line=line.order_line.public_id,
                    quantity=line.quantity,
                    amount=max(line.amount - line.fee_amount, Decimal(0)),
                    restock=line.disposition == ReturnLine.Disposition.RESTOCK,
                )
                for line in lines
            ],
        )
        result = refund_create(store=store, order=ret.order, data=data)
        ret.refund = result.refund
        ret.refund_state = ReturnRequest.RefundState.CONFIRMED
        ret.save(update_fields=["refund", "refund_state", "updated_at"])
        now = clock.now()
        _transition(store, ret, S.REFUNDED, actor, now, refund_id=result.refund.public_id)
        _after(store, ret, now)
    return ret


def return_bulk_approve(*, store: Store, refs: list[str], actor: Actor) -> tuple[int, list[str]]:
    """Approve many: each in its own transaction; returns (approved, messages for the rest)."""
    approved = 0
    problems: list[str] = []
    for ret in ReturnRequest.objects.filter(store=store, public_id__in=refs).order_by("pk"):
        try:
            return_approve(store=store, ret=ret, actor=actor)
            approved += 1
        except DomainError as exc:
            problems.append(f"{ret.reference}: {exc.message}")
    return approved, problems


# -- labels and carrier scans -----------------------------------------------------------------


def return_label_record(
    *,
    store: Store,
    ret: ReturnRequest,
    provider: str,
    carrier: str = "",
    service: str = "",
    tracking_number: str = "",
    tracking_url: str = "",
    provider_ref: str = "",
    qr_payload: str = "",
    document: bytes | None = None,
    actor: Actor | None = None,
) -> ReturnLabel:
    """Record how the parcel comes back; with a tracking number, a tracked Shipment is created
    on the order (source "returns") and its scans move the return along."""
    from aftersale.tracking.schemas import ShipmentIn
    from aftersale.tracking.services import shipment_upsert

    actor = actor or Actor.system(provider)
    if not provider:
        raise DomainError("name the label provider", field="provider")
    with transaction.atomic():
        ret = _lock(store, ret)
        if ret.is_returnless:
            raise Conflict("the shopper keeps the items: there is nothing to send back")
        # Paid out before the parcel left (exchange shipped first, instant refund): the label is
        # still needed, and the status stays.
        paid_first = ret.status in RESOLVED and ret.received_at is None
        if ret.status not in (S.APPROVED, S.LABEL_ISSUED) and not paid_first:
            transition_check(ret, S.LABEL_ISSUED)
        now = clock.now()
        ret.labels.filter(voided_at__isnull=True).update(voided_at=now)
        shipment = None
        if tracking_number:
            issued = ret.labels.count() + 1
            address = ret.order.shipping_address if ret.order.shipping_address_id else None
            result = shipment_upsert(
                store=store,
                data=ShipmentIn(
                    order=ret.order.public_id,
                    external_id=ret.public_id if issued == 1 else f"{ret.public_id}-{issued}",
                    source=RETURN_SHIPMENT_SOURCE,
                    carrier=carrier,
                    service=service,
                    tracking_number=tracking_number,
                    tracking_url=tracking_url or None,
                    status="label_created",
                    origin_postal_code=ret.sender_postal_code
                    or (address.postal_code if address else ""),
                    origin_country=ret.sender_country or (address.country if address else ""),
                ),
            )
            shipment = result.shipment
            # The parcel goes to the merchant, not the shopper.
            Shipment.objects.filter(pk=shipment.pk).update(
                destination_postal_code="",
                destination_city="",
                destination_region="",
                destination_country=store.country,
            )
        label = ReturnLabel(
            store=store,
            request=ret,
            provider=provider,
            provider_ref=provider_ref,
            carrier=carrier,
            service=service,
            tracking_number=tracking_number,
            tracking_url=tracking_url,
            qr_payload=qr_payload,
            shipment=shipment,
            created_at=now,
        )
        if document:
            label.document.save(f"{label.public_id}.pdf", ContentFile(document), save=False)
        label.save()
        info = {
            "id": label.public_id,
            "carrier": carrier,
            "tracking_number": tracking_number,
            "shipment_id": shipment.public_id if shipment else None,
        }
        if paid_first:
            ReturnTransition.objects.create(
                store=store,
                request=ret,
                from_status=ret.status,
                to_status=ret.status,
                at=now,
                actor_kind=actor.kind,
                actor_user=actor.user if getattr(actor.user, "pk", None) else None,
                actor_label=actor.label[:200],
                note="label issued",
            )
            _emit(store, ret, "return.label_issued", label=info)
        else:
            note = "label re-issued" if ret.status == S.LABEL_ISSUED else ""
            _transition(store, ret, S.LABEL_ISSUED, actor, now, note, label=info)
    return label


IN_TRANSIT_STATUSES = {
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "attempt_failed",
    "ready_for_pickup",
    "on_hold",
    "exception",
}


def return_shipment_moved(*, store: Store, shipment: Shipment) -> ReturnRequest | None:
    """A return parcel's status changed: the first scan → in transit; delivered → received."""
    label = (
        ReturnLabel.objects.filter(store=store, shipment=shipment, voided_at__isnull=True)
        .select_related("request")
        .first()
    )
    if label is None:
        return None
    with transaction.atomic():
        ret = _lock(store, label.request)
        shipment = Shipment.objects.get(pk=shipment.pk)
        now = clock.now()
        carrier = Actor.carrier(shipment.carrier or shipment.carrier_code or "carrier")
        if shipment.status in IN_TRANSIT_STATUSES and ret.status in (S.APPROVED, S.LABEL_ISSUED):
            _transition(store, ret, S.IN_TRANSIT, carrier, now, shipment.status)
            _after(store, ret, now)
        if (
            shipment.status == "delivered"
            and ret.received_at is None
            and (ret.status in (S.APPROVED, S.LABEL_ISSUED, S.IN_TRANSIT) or ret.status in RESOLVED)
        ):
            _receive_locked(store, ret, carrier, now, "delivered")
    return ret


# -- rules ------------------------------------------------------------------------------------


def rules_save(
    *, store: Store, definition: dict, user=None, expected_version: int | None = None
) -> ReturnRuleSet:
    """Validate and store a rule set (DomainError naming the field); bumps the version."""
    ruleset = validate_definition(definition)
    compile_rules(ruleset)
    with transaction.atomic():
        row = ReturnRuleSet.objects.select_for_update().filter(store=store).first()
        current = row.version if row else 0
        if expected_version is not None and expected_version != current:
            raise Conflict(
                f"the rules changed meanwhile (version {current}, not {expected_version}); "
                "reload them",
                field="expected_version",
            )
        if row is None:
            row = ReturnRuleSet(store=store, version=0)
        row.definition = dump_definition(ruleset)
        row.fingerprint = definition_fingerprint(row.definition)
        row.version = current + 1
        row.updated_by = user if getattr(user, "pk", None) else None
        row.save()
        emit(
            store=store,
            name="return_rules.updated",
            aggregate=f"store:{store.public_id}",
            payload={"version": row.version, "rules": len(ruleset.rules)},
        )
    return row


DEFAULT_REASONS: list[tuple[str, str, dict, bool, bool, list]] = [
    # code, label, translations, requires_photos, merchant_fault, children
    (
        "fit",
        "Size or fit",
        {"de": "Größe oder Passform", "pt-br": "Tamanho ou caimento"},
        False,
        False,
        [
            ("too_small", "Too small", {"de": "Zu klein", "pt-br": "Muito pequeno"}),
            ("too_large", "Too large", {"de": "Zu groß", "pt-br": "Muito grande"}),
        ],
    ),
    (
        "damaged",
        "Arrived damaged or faulty",
        {"de": "Beschädigt oder defekt", "pt-br": "Chegou danificado ou com defeito"},
        True,
        True,
        [],
    ),
    (
        "wrong_item",
        "Wrong item sent",
        {"de": "Falscher Artikel", "pt-br": "Item errado"},
        True,
        True,
        [],
    ),
    (
        "not_as_described",
        "Not as described",
        {"de": "Nicht wie beschrieben", "pt-br": "Diferente do anunciado"},
        False,
        False,
        [],
    ),
    (
        "changed_mind",
        "Changed my mind",
        {"de": "Meinung geändert", "pt-br": "Mudei de ideia"},
        False,
        False,
        [],
    ),
    (
        "arrived_late",
        "Arrived too late",
        {"de": "Zu spät angekommen", "pt-br": "Chegou tarde demais"},
        False,
        False,
        [],
    ),
]


def reasons_install_defaults(*, store: Store) -> int:
    """The default reason list for a new store (idempotent: existing codes are kept)."""
    created = 0
    with transaction.atomic():
        for position, (code, label, tr, photos, fault, children) in enumerate(DEFAULT_REASONS):
            parent, made = ReturnReason.objects.get_or_create(
                store=store,
                code=code,
                defaults={
                    "label": label,
                    "translations": tr,
                    "requires_photos": photos,
                    "merchant_fault": fault,
                    "position": position * 10,
                },
            )
            created += made
            for sub, (child_code, child_label, child_tr) in enumerate(children):
                _, made = ReturnReason.objects.get_or_create(
                    store=store,
                    code=child_code,
                    defaults={
                        "label": child_label,
                        "translations": child_tr,
                        "parent": parent,
                        "requires_photos": photos,
                        "merchant_fault": fault,
                        "position": position * 10 + sub + 1,
                    },
                )
                created += made
    return created


# -- back-test --------------------------------------------------------------------------------


@dataclass
class BacktestSample:
    order_number: str
    order_id: str
    placed_at: datetime
    eligible_lines: int
    lines: int
    value: Decimal
    outcomes: list[str]
    denial: str


@dataclass
class BacktestResult:
    orders: int = 0
    orders_eligible: int = 0
    lines: int = 0
    lines_eligible: int = 0
    units_eligible: int = 0
    value_eligible: Decimal = Decimal(0)
    currency: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)
    denials: dict[str, int] = field(default_factory=dict)
    rules_matched: dict[str, int] = field(default_factory=dict)
    needs_review: int = 0
    fraud_review: int = 0
    seconds: float = 0.0
    samples: list[BacktestSample] = field(default_factory=list)


def rules_backtest(
    *,
    store: Store,
    definition: dict | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    days_after_delivery: int | None = None,
    now: datetime | None = None,
    sample_size: int = 25,
) -> BacktestResult:
    """Which of the past orders' lines these rules would let the shopper return, and how.

    Evaluated as of `now` (the default), or as if each shopper asked `days_after_delivery`
    days after delivery. Reasons are not known in the past, so reason conditions stay false.
    Reads everything in a handful of queries and evaluates in memory.
    """
    started = time.perf_counter()
    now = now or clock.now()
    if placed_to is None:
        placed_to = now
    if placed_from is None:
        placed_from = placed_to - timedelta(days=30)
    if placed_from > placed_to:
        raise DomainError("placed_from is after placed_to", field="placed_from")
    if definition is not None:
        _, compiled = compiled_from(definition)
    else:
        compiled = compiled_rules(store=store)
    result = BacktestResult(currency=store.currency)
    used = compiled.fields_used
    want_codes = "discount_used" in used
    want_tags = "order_tags" in used
    want_stats = bool({"customer_return_count", "customer_return_rate"} & used)
    want_customer_tags = "customer_tags" in used
    orders = list(
        Order.objects.filter(store=store, placed_at__gte=placed_from, placed_at__lt=placed_to)
        .exclude(status=Order.Status.CANCELLED)
        .values_list(
            "pk",
            "public_id",
            "number",
            "placed_at",
            "total",
            "discount_total",
            "discount_codes" if want_codes else "pk",
            "customer_id",
            "tags" if want_tags else "pk",
            "channel",
            "shipping_address__country",
            "currency",
        )
        .order_by("placed_at", "pk")
    )
    result.orders = len(orders)
    if not orders:
        result.seconds = round(time.perf_counter() - started, 3)
        return result
    in_range = Q(order__store=store, order__placed_at__gte=placed_from)
    in_range &= Q(order__placed_at__lt=placed_to)
    delivered = dict(
        Shipment.objects.filter(in_range, delivered_at__isnull=False)
        .exclude(source=RETURN_SHIPMENT_SOURCE)
        .values("order_id")
        .annotate(at=Min("delivered_at"))
        .values_list("order_id", "at")
    )
    lines_by_order: dict[int, list[tuple]] = {}
    for row in (
        OrderLine.objects.filter(in_range)
        .values_list("order_id", "pk", "quantity", "total", "discount", "sku", "product_id")
        .order_by("order_id", "pk")
    ):
        lines_by_order.setdefault(row[0], []).append(row)
    products = {
        pk: (public_id, (category or "").lower(), frozenset(t.lower() for t in tags or []), fs)
        for pk, public_id, category, tags, fs in Product.objects.filter(store=store).values_list(
            "pk", "public_id", "category", "tags", "final_sale"
        )
    }
    returned: dict[int, int] = dict(
        ReturnLine.objects.filter(LIVE_LINE, request__store=store)
        .filter(request__order__placed_at__gte=placed_from, request__order__placed_at__lt=placed_to)
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
        .values_list("order_line_id", "n")
    )
    # Per customer of the store, one grouped query each (no lists of ids), and only what the
    # rules read.
    return_counts: dict[int, int] = {}
    order_counts: dict[int, int] = {}
    if want_stats:
        return_counts = dict(
            ReturnRequest.objects.filter(LIVE, store=store, customer__isnull=False)
            .values("customer_id")
            .annotate(n=Count("id"))
            .values_list("customer_id", "n")
        )
        order_counts = dict(
            Order.objects.filter(store=store, customer__isnull=False)
            .exclude(status=Order.Status.CANCELLED)
            .exclude(exchange_for__isnull=False)  # replacement orders of exchanges
            .values("customer_id")
            .annotate(n=Count("id"))
            .values_list("customer_id", "n")
        )
    customer_tags: dict[int, frozenset[str]] = {}
    if want_customer_tags:
        customer_tags = {
            pk: frozenset(t.lower() for t in tags)
            for pk, tags in Customer.objects.filter(store=store).values_list("pk", "tags")
            if tags
        }
    empty: frozenset[str] = frozenset()
    zone = store_zone(store)
    today = now.astimezone(zone).date()
    outcomes_count: dict[str, int] = {}
    denials: dict[str, int] = {}
    matched_count: dict[str, int] = {}
    value = Decimal(0)
    samples: list[BacktestSample] = []
    for (
        pk,
        public_id,
        number,
        placed_at,
        total,
        discount_total,
        codes,
        customer_id,
        tags,
        channel,
        country,
        currency,
    ) in orders:
        rows = lines_by_order.get(pk)
        if not rows:
            continue
        delivered_at = delivered.get(pk)
        if days_after_delivery is not None:
            days = days_after_delivery
        else:
            days = max((today - (delivered_at or placed_at).astimezone(zone).date()).days, 0)
        count = return_counts.get(customer_id, 0)
        n_orders = order_counts.get(customer_id, 0)
        facts = OrderFacts(
            days_since_delivery=days,
            delivered=delivered_at is not None,
            order_total=total,
            discount_used=(want_codes and bool(codes)) or discount_total > 0,
            customer_return_count=count,
            customer_return_rate=Decimal(count) / n_orders if n_orders else Decimal(0),
            customer_tags=customer_tags.get(customer_id, empty),
            order_tags=frozenset(t.lower() for t in tags) if want_tags and tags else empty,
            country=country or store.country,
            channel=channel,
        )
        lines_total = sum((r[3] for r in rows), Decimal(0))
        extra = discount_total - sum((r[4] for r in rows), Decimal(0))
        passed = order_pass(compiled, facts)
        eligible_here = 0
        order_value = Decimal(0)
        order_outcomes: set[str] = set()
        denial = ""
        for _, line_pk, quantity, line_total, _discount, sku, product_id in rows:
            result.lines += 1
            net = line_total
            if extra > 0 and lines_total > 0:
                net -= extra * line_total / lines_total
            unit = unit_amount(max(net, Decimal(0)), quantity, currency)
            product = products.get(product_id)
            lfacts = LineFacts(
                product=product[0] if product else "",
                sku=sku,
                category=product[1] if product else "",
                tag=product[2] if product else empty,
                final_sale=bool(product and product[3]),
                price=unit,
            )
            decision = evaluate(compiled, facts, lfacts, None, passed)
            for rule_id in decision.matched:
                matched_count[rule_id] = matched_count.get(rule_id, 0) + 1
            left = quantity - returned.get(line_pk, 0)
            if not decision.allowed or left <= 0:
                message = decision.deny_message or "already returned"
                denials[message] = denials.get(message, 0) + 1
                denial = denial or message
                continue
            eligible_here += 1
            result.lines_eligible += 1
            result.units_eligible += left
            line_value = unit * left
            order_value += line_value
            for code in decision.outcomes:
                outcomes_count[code] = outcomes_count.get(code, 0) + 1
            order_outcomes |= decision.outcomes
            if decision.review == "review":
                result.needs_review += 1
            if decision.fraud_review:
                result.fraud_review += 1
        if eligible_here:
            result.orders_eligible += 1
            value += order_value
        if len(samples) < sample_size:
            samples.append(
                BacktestSample(
                    order_number=number,
                    order_id=public_id,
                    placed_at=placed_at,
                    eligible_lines=eligible_here,
                    lines=len(rows),
                    value=quantize(order_value, currency),
                    outcomes=[c for c in Outcome.values if c in order_outcomes],
                    denial="" if eligible_here else denial,
                )
            )
    result.value_eligible = quantize(value, store.currency)
    result.outcomes = {c: outcomes_count[c] for c in Outcome.values if c in outcomes_count}
    result.denials = dict(sorted(denials.items(), key=lambda kv: -kv[1]))
    result.rules_matched = dict(sorted(matched_count.items(), key=lambda kv: -kv[1]))
    result.samples = samples
    result.seconds = round(time.perf_counter() - started, 3)
    return result


LIVE_LINE = ~Q(request__status__in=[ReturnRequest.Status.CANCELLED, ReturnRequest.Status.REJECTED])
