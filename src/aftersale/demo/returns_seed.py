"""Demo returns: the default reasons and rules, and a realistic spread of returns on the demo
store's delivered orders in every state, with labels and return parcels, refunds, store credit
(some of it spent) and replacement orders.

Priced by the real rules (returns.services.return_quote as of the day the shopper asked), then
written as history: rows with their past timestamps and no outbox events, like the rest of the
demo's history. Deterministic from the rng.
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Min
from django.urls import NoReverseMatch, reverse

from aftersale.catalog.models import Variant
from aftersale.core.models import Store
from aftersale.core.money import quantize
from aftersale.core.services import DomainError
from aftersale.orders.models import Order, OrderLine, Refund, RefundLine
from aftersale.returns.credit import new_credit_code
from aftersale.returns.models import (
    ReturnLabel,
    ReturnRequest,
    ReturnRuleSet,
    ReturnTransition,
    StoreCreditAccount,
    StoreCreditEntry,
)
from aftersale.returns.rules import DEFAULT_DEFINITION, dump_definition, validate_definition
from aftersale.returns.schemas import ReturnCreateIn
from aftersale.returns.selectors import (
    RETURN_SHIPMENT_SOURCE,
    definition_fingerprint,
    in_stock,
    planned_steps,
    reasons,
    return_status_token,
)
from aftersale.returns.services import (
    RESOLVED,
    fraud_assess,
    reasons_install_defaults,
    return_quote,
    return_rows_create,
)
from aftersale.tracking.models import Shipment, ShipmentStatus, TrackingEvent

S = ReturnRequest.Status
REASON_WEIGHTS = {
    "too_small": 24,
    "too_large": 20,
    "not_as_described": 14,
    "changed_mind": 18,
    "damaged": 8,
    "wrong_item": 5,
    "arrived_late": 4,
}
OUTCOME_WEIGHTS = {"refund": 44, "store_credit": 30, "exchange_same": 20, "exchange_other": 6}
OPEN_TARGETS = {
    S.REQUESTED: 6,
    S.APPROVED: 8,
    S.LABEL_ISSUED: 8,
    S.IN_TRANSIT: 10,
    S.RECEIVED: 5,
    S.INSPECTED: 3,
}
DONE_TARGETS = {S.CLOSED: 80, S.REJECTED: 5, S.CANCELLED: 6}
# The states the demo must show, first, on the most recent deliveries.
MUST_SHOW = [
    (S.REQUESTED, "refund", True),  # awaiting review, with a fraud flag
    (S.APPROVED, "store_credit", False),
    (S.LABEL_ISSUED, "exchange_same", False),
    (S.IN_TRANSIT, "refund", False),
    (S.RECEIVED, "refund", False),
    (S.INSPECTED, "refund", False),
    (S.CLOSED, "store_credit", False),
    (S.CLOSED, "exchange_same", False),
    (S.CLOSED, "refund", False),
]
DEMO_RULES = {
    **DEFAULT_DEFINITION,
    "defaults": {"return_fee": "4.95", "restocking_fee_percent": "0"},
}


def _ensure_rules(store: Store) -> None:
    if ReturnRuleSet.objects.filter(store=store).exists():
        return
    definition = dump_definition(validate_definition(DEMO_RULES))
    ReturnRuleSet.objects.create(
        store=store,
        definition=definition,
        version=1,
        fingerprint=definition_fingerprint(definition),
    )


def _delivered_orders(store: Store) -> list[tuple[Order, datetime]]:
    rows = (
        Shipment.objects.filter(store=store, delivered_at__isnull=False)
        .exclude(source=RETURN_SHIPMENT_SOURCE)
        .exclude(order__status=Order.Status.CANCELLED)
        .filter(order__customer__isnull=False, order__return_requests__isnull=True)
        .values("order_id")
        .annotate(at=Min("delivered_at"))
        .order_by("order_id")
    )
    delivered = {row["order_id"]: row["at"] for row in rows}
    orders = Order.objects.filter(pk__in=delivered).select_related("customer", "shipping_address")
    return sorted(((o, delivered[o.pk]) for o in orders), key=lambda pair: pair[1])


def seed(store: Store, rng: random.Random, now: datetime) -> dict[str, int]:
    """Reasons, rules and returns for the demo store; returns what it wrote."""
    reasons_install_defaults(store=store)
    _ensure_rules(store)
    counts = {"returns": 0, "refunds": 0, "credits": 0, "exchanges": 0, "labels": 0}
    delivered = _delivered_orders(store)
    if not delivered:
        return counts
    leaves = {r.code: r for r in reasons(store=store) if not r.children.exists()}
    recent = [(o, at) for o, at in delivered if now - at <= timedelta(days=24)]
    older = [(o, at) for o, at in delivered if timedelta(days=24) < now - at <= timedelta(days=150)]
    plan: list[tuple[Order, datetime, str, str | None, bool]] = []
    rng.shuffle(recent)
    rng.shuffle(older)
    for target, outcome, fraud in MUST_SHOW:
        pool = recent if target in OPEN_TARGETS else older or recent
        if pool:
            order, at = pool.pop()
            plan.append((order, at, target, outcome, fraud))
    for order, at in recent[: max(len(recent) // 14, 6)]:
        target = rng.choices(list(OPEN_TARGETS), list(OPEN_TARGETS.values()))[0]
        plan.append((order, at, target, None, False))
    for order, at in older[: max(len(older) // 14, 10)]:
        target = rng.choices(list(DONE_TARGETS), list(DONE_TARGETS.values()))[0]
        plan.append((order, at, target, None, False))
    builder = _Builder(store, rng, now, leaves, counts)
    for order, at, target, outcome, fraud in plan:
        with transaction.atomic():
            builder.build(order, at, target, outcome, fraud)
    builder.spend_some_credit()
    return counts


class _Builder:
    def __init__(self, store, rng, now, leaves, counts):
        self.store, self.rng, self.now, self.leaves, self.counts = store, rng, now, leaves, counts

    def build(self, order: Order, delivered: datetime, target: str, outcome, fraud) -> None:
        rng = self.rng
        age_days = max((self.now - delivered).days, 1)
        asked = delivered + timedelta(
            days=rng.randint(1, max(1, min(age_days - 1, 20))), hours=rng.randint(0, 10)
        )
        if target in OPEN_TARGETS:
            # Open returns are recent: asked within the last few days.
            asked = max(
                asked, self.now - timedelta(days=rng.randint(1, 6), hours=rng.randint(1, 9))
            )
        asked = min(asked, self.now - timedelta(hours=2))
        lines = [
            line
            for line in order.lines.select_related("product", "variant")
            if not (line.product_id and line.product.final_sale)
        ]
        if not lines:
            return
        line = rng.choice(lines)
        reason = rng.choices(list(REASON_WEIGHTS), list(REASON_WEIGHTS.values()))[0]
        if reason not in self.leaves:
            return
        outcome = outcome or rng.choices(list(OUTCOME_WEIGHTS), list(OUTCOME_WEIGHTS.values()))[0]
        if target in (S.RECEIVED, S.INSPECTED):
            outcome = "refund"  # waiting on staff or the platform, not paid out on its own
        exchange = self._exchange_variant(line, outcome)
        if outcome.startswith("exchange") and exchange is None:
            outcome = "store_credit"
        method = "in_store" if order.channel == Order.Channel.IN_STORE else "prepaid_label"
        if rng.random() < 0.25 and method == "prepaid_label":
            method = "drop_off"
        address = order.shipping_address
        data = ReturnCreateIn(
            items=[
                {
                    "line": line.public_id,
                    "quantity": rng.randint(1, line.quantity),
                    "reason": reason,
                    "comment": _comment(rng, reason),
                    "exchange_variant": exchange.public_id if exchange else None,
                }
            ],
            outcome=outcome,
            shipping_method=method,
            idempotency_key=f"demo-{order.public_id}",
            sender_postal_code=("99" + "".join(rng.choices(string.digits, k=3)))
            if fraud
            else (address.postal_code if address else ""),
            sender_country=address.country if address else "",
            locale=order.customer.locale if order.customer_id else "",
        )
        try:
            quote = return_quote(store=self.store, order=order, data=data, now=asked)
        except DomainError:
            return
        signals = fraud_assess(store=self.store, order=order, data=data, quote=quote, now=asked)
        if fraud and not signals:
            signals = [{"signal": "mismatched_address", "detail": "sent from another postcode"}]
        review = quote.requires_review or bool(signals)
        if target == S.REQUESTED or target == S.REJECTED:
            review = True
        ret = self._write(order, data, quote, signals, asked)
        if target in (S.RECEIVED, S.INSPECTED):
            ret.refund_timing = ReturnRequest.RefundTiming.AFTER_INSPECTION
        self._walk(ret, target, review, asked)
        self.counts["returns"] += 1

    def _exchange_variant(self, line: OrderLine, outcome: str):
        if not outcome.startswith("exchange") or not line.product_id:
            return None
        siblings = [
            v
            for v in line.product.variants.all()
            if v.pk != line.variant_id and in_stock(v) and v.inventory_quantity != 0
        ]
        if outcome == "exchange_other":
            siblings = list(
                Variant.objects.filter(
                    store=self.store, currency=line.order.currency, inventory_quantity__gt=5
                )
                .exclude(product_id=line.product_id)
                .select_related("product")
                .order_by("id")[:40]
            )
        return self.rng.choice(siblings) if siblings else None

    def _write(self, order, data, quote, signals, asked) -> ReturnRequest:
        ret = return_rows_create(self.store, order, data, quote, signals, asked)
        for q in quote.lines:
            if q.exchange_variant is not None and q.exchange_variant.inventory_quantity:
                Variant.objects.filter(pk=q.exchange_variant.pk).update(
                    inventory_quantity=F("inventory_quantity") - q.quantity
                )
        return ret

    def _walk(self, ret: ReturnRequest, target: str, review: bool, asked: datetime) -> None:
        rng = self.rng
        at = asked
        self._move(ret, "", S.REQUESTED, at, "shopper", "")
        if target == S.REQUESTED:
            return
        if target == S.REJECTED:
            at += timedelta(hours=rng.randint(3, 30))
            at = self._clamp(at, asked)
            ret.rejection_reason = rng.choice(
                [
                    "Outside the return window for worn items",
                    "Photos show heavy use",
                    "Item was not bought in this store",
                ]
            )
            self._move(ret, S.REQUESTED, S.REJECTED, at, "staff", "ops", ret.rejection_reason)
            return
        at += timedelta(hours=rng.randint(2, 20)) if review else timedelta(seconds=1)
        at = self._clamp(at, asked)
        self._move(
            ret,
            S.REQUESTED,
            S.APPROVED,
            at,
            "staff" if review else "system",
            "ops" if review else "rules: auto-approve",
        )
        if target == S.CANCELLED:
            at += timedelta(hours=rng.randint(1, 48))
            at = self._clamp(at, asked)
            self._move(ret, S.APPROVED, S.CANCELLED, at, "shopper", "")
            return
        if target == S.APPROVED:
            return
        steps = planned_steps(ret)
        goal = target if target in steps else S.CLOSED
        previous = S.APPROVED
        for step in steps[steps.index(S.APPROVED) + 1 :]:
            at = self._advance(ret, step, at)
            actor, label = _actor_for(step, ret)
            self._move(ret, previous, step, at, actor, label)
            previous = step
            if step == goal:
                break
        due = {
            S.IN_TRANSIT: ret.refund_timing == ReturnRequest.RefundTiming.INSTANT,
            S.RECEIVED: ret.refund_timing == ReturnRequest.RefundTiming.ON_RECEIPT,
            S.INSPECTED: True,
        }
        if ret.outcome == "refund" and due.get(ret.status):
            # The platform was asked for the refund and has not confirmed it yet.
            ret.refund_state = ReturnRequest.RefundState.REQUESTED
            ret.refund_requested_at = at
            ret.save(update_fields=["refund_state", "refund_requested_at"])

    def _clamp(self, at: datetime, previous: datetime) -> datetime:
        """History stays in the past and in order."""
        return max(previous, min(at, self.now - timedelta(minutes=2)))

    def _advance(self, ret: ReturnRequest, step: str, at: datetime) -> datetime:
        rng = self.rng
        start = at
        if step == S.LABEL_ISSUED:
            at += timedelta(minutes=rng.randint(1, 20))
            at = self._clamp(at, start)
            self._label(ret, at)
        elif step == S.IN_TRANSIT:
            at += timedelta(hours=rng.randint(6, 40))
            at = self._clamp(at, start)
            self._scan(ret, at, ShipmentStatus.IN_TRANSIT)
        elif step == S.RECEIVED:
            at += timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 8))
            at = self._clamp(at, start)
            self._scan(ret, at, ShipmentStatus.DELIVERED)
            ret.received_at = at
        elif step == S.INSPECTED:
            at += timedelta(hours=rng.randint(2, 30))
            at = self._clamp(at, start)
            ret.inspected_at = at
            self._inspect(ret)
        elif step in RESOLVED:
            at += timedelta(hours=rng.randint(1, 20))
            at = self._clamp(at, start)
            if ret.received_at and ret.inspected_at is None and rng.random() < 0.7:
                ret.inspected_at = at
                self._inspect(ret)
            self._resolve(ret, at)
            ret.resolved_at = at
        elif step == S.CLOSED:
            at += timedelta(minutes=rng.randint(1, 60))
            at = self._clamp(at, start)
            ret.closed_at = at
        return at

    def _move(self, ret, before, after, at, actor, label, note="") -> None:
        ret.status = after
        if after == S.APPROVED:
            ret.approved_at = at
        if after == S.CANCELLED:
            ret.cancelled_at = at
        ret.save()
        ReturnRequest.objects.filter(pk=ret.pk).update(updated_at=at)
        ReturnTransition.objects.create(
            store=self.store,
            request=ret,
            from_status=before,
            to_status=after,
            at=at,
            actor_kind=actor,
            actor_label=label,
            note=note,
        )

    def _label(self, ret: ReturnRequest, at: datetime) -> None:
        carrier, number = "DHL", "".join(self.rng.choices(string.digits, k=12))
        address = ret.order.shipping_address
        shipment = Shipment.objects.create(
            store=self.store,
            order=ret.order,
            source=RETURN_SHIPMENT_SOURCE,
            external_id=ret.public_id,
            carrier=carrier,
            carrier_code="dhl",
            service="Returns",
            tracking_number=number,
            status=ShipmentStatus.LABEL_CREATED,
            origin_postal_code=address.postal_code if address else "",
            origin_city=address.city if address else "",
            origin_country=address.country if address else "",
            destination_country=self.store.country,
        )
        ReturnLabel.objects.create(
            store=self.store,
            request=ret,
            provider="demo",
            provider_ref=f"demo-{number}",
            carrier=carrier,
            service="Returns",
            tracking_number=number,
            qr_payload=f"RET:{ret.public_id}:{number}",
            shipment=shipment,
            created_at=at,
        )
        self.counts["labels"] += 1

    def _scan(self, ret: ReturnRequest, at: datetime, status: str) -> None:
        label = ret.labels.select_related("shipment").first()
        if label is None or label.shipment is None:
            return
        shipment = label.shipment
        text = {
            ShipmentStatus.IN_TRANSIT: "The shipment has been picked up",
            ShipmentStatus.DELIVERED: "Delivered to the returns centre",
        }[status]
        TrackingEvent.objects.create(
            store=self.store,
            shipment=shipment,
            occurred_at=at,
            status=status,
            raw_status=status.upper(),
            raw_text=text,
            source="demo",
            fingerprint=f"{shipment.public_id}-{status}",
        )
        shipment.status = status
        shipment.last_event_at = at
        if status == ShipmentStatus.DELIVERED:
            shipment.delivered_at = at
        shipment.shipped_at = shipment.shipped_at or at
        shipment.save()

    def _inspect(self, ret: ReturnRequest) -> None:
        for line in ret.lines.all():
            condition = self.rng.choices(["new", "like_new", "used", "damaged"], [50, 25, 17, 8])[0]
            disposition = {
                "new": "restock",
                "like_new": "resell",
                "used": "refurbish",
                "damaged": self.rng.choice(["recycle", "discard", "donate"]),
            }[condition]
            line.condition, line.disposition = condition, disposition
            line.save(update_fields=["condition", "disposition"])

    def _resolve(self, ret: ReturnRequest, at: datetime) -> None:
        if ret.outcome in ("refund", "keep_item"):
            refund = Refund.objects.create(
                store=self.store,
                order=ret.order,
                source=ret.order.source,
                external_id=f"demo-refund-{ret.public_id}",
                amount=ret.total_amount,
                currency=ret.currency,
                reason=f"return {ret.reference}",
                processed_at=at,
            )
            for line in ret.lines.all():
                RefundLine.objects.create(
                    refund=refund,
                    order_line=line.order_line,
                    quantity=line.quantity,
                    amount=line.amount - line.fee_amount,
                    restock=line.disposition == "restock",
                )
            Order.objects.filter(pk=ret.order_id).update(
                financial_status=Order.FinancialStatus.PARTIALLY_REFUNDED
            )
            ret.refund = refund
            ret.refund_state = ReturnRequest.RefundState.CONFIRMED
            ret.refund_requested_at = at - timedelta(hours=1)
            self.counts["refunds"] += 1
            return
        if ret.outcome in ("exchange_same", "exchange_other"):
            self._replacement(ret, at)
        if ret.total_amount > 0:
            self._credit(ret, ret.total_amount, at)

    def _replacement(self, ret: ReturnRequest, at: datetime) -> None:
        order = ret.order
        lines = list(
            ret.lines.filter(exchange_variant__isnull=False).select_related(
                "exchange_variant__product"
            )
        )
        value = sum((line.exchange_unit_price * line.quantity for line in lines), Decimal(0))
        replacement = Order.objects.create(
            store=self.store,
            source=order.source,
            external_id=f"exchange-{ret.public_id}",
            number=f"{order.number.lstrip('#')}-EX{ret.reference.rsplit('-R', 1)[-1]}",
            status=Order.Status.OPEN,
            financial_status=Order.FinancialStatus.PAID
            if ret.upcharge_amount == 0
            else Order.FinancialStatus.PENDING,
            fulfillment_status=Order.FulfillmentStatus.FULFILLED,
            channel=order.channel,
            currency=ret.currency,
            subtotal=value,
            discount_total=value - ret.upcharge_amount,
            total=ret.upcharge_amount,
            customer_id=order.customer_id,
            email=order.email,
            shipping_address=order.shipping_address,
            tags=["exchange", f"return:{ret.public_id}"],
            note=f"Exchange for return {ret.reference} of order {order.number}",
            placed_at=at,
        )
        for line in lines:
            variant = line.exchange_variant
            OrderLine.objects.create(
                store=self.store,
                order=replacement,
                external_id=line.public_id,
                product=variant.product,
                variant=variant,
                sku=variant.sku,
                title=variant.product.title,
                variant_title=variant.title,
                unit_price=line.exchange_unit_price,
                quantity=line.quantity,
                total=quantize(line.exchange_unit_price * line.quantity, ret.currency),
            )
        ret.exchange_order = replacement
        ret.exchange_order_external_id = replacement.external_id
        self.counts["exchanges"] += 1

    def _credit(self, ret: ReturnRequest, amount: Decimal, at: datetime) -> None:
        account, _ = StoreCreditAccount.objects.get_or_create(
            store=self.store,
            customer_id=ret.customer_id,
            currency=ret.currency,
            defaults={"code": new_credit_code()},
        )
        StoreCreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
        account.refresh_from_db()
        StoreCreditEntry.objects.create(
            store=self.store,
            account=account,
            kind=StoreCreditEntry.Kind.ISSUE,
            amount=amount,
            balance_after=account.balance,
            cause=f"store credit for return {ret.reference}",
            return_request=ret,
            idempotency_key=f"return:{ret.public_id}",
            expires_at=at + timedelta(days=365),
            created_at=at,
        )
        self.counts["credits"] += 1

    def spend_some_credit(self) -> None:
        """A third of the customers spent part of their credit at checkout since."""
        for account in StoreCreditAccount.objects.filter(store=self.store).order_by("id"):
            if self.rng.random() > 0.35 or account.balance <= 5:
                continue
            spend = quantize(
                account.balance * Decimal(self.rng.choice(["0.4", "0.6", "1"])), account.currency
            )
            last = account.entries.order_by("-id").first()
            at = min(last.created_at + timedelta(days=self.rng.randint(2, 20)), self.now)
            StoreCreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") - spend)
            account.refresh_from_db()
            StoreCreditEntry.objects.create(
                store=self.store,
                account=account,
                kind=StoreCreditEntry.Kind.REDEEM,
                amount=-spend,
                balance_after=account.balance,
                cause=f"redeemed at checkout demo-{account.public_id[-6:]}",
                external_ref=f"demo-{account.public_id[-6:]}",
                idempotency_key=f"demo-redeem-{account.public_id}",
                created_at=at,
            )


def _actor_for(step: str, ret: ReturnRequest) -> tuple[str, str]:
    if step in (S.IN_TRANSIT,) or (step == S.RECEIVED and ret.labels.exists()):
        return "carrier", "DHL"
    if step == S.LABEL_ISSUED:
        return "system", "demo label"
    if step == S.REFUNDED:
        return "platform", "API key demo"
    if step in (S.RECEIVED, S.INSPECTED):
        return "staff", "ops"
    return "system", "rules"


COMMENTS = {
    "too_small": ["Runs small, I need one size up.", "Tight across the shoulders.", ""],
    "too_large": ["Much too roomy.", "Sleeves are too long.", ""],
    "not_as_described": ["Colour is quite different from the photos.", "Thinner than expected."],
    "changed_mind": ["", "Found something else.", "Bought two, keeping one."],
    "damaged": ["Seam came open on the first day.", "Box was crushed, item scratched."],
    "wrong_item": ["Ordered blue, got green.", "Different model in the box."],
    "arrived_late": ["Needed it for a trip, it came after.", ""],
}


def _comment(rng: random.Random, reason: str) -> str:
    return rng.choice(COMMENTS.get(reason, [""]))


def highlights(store: Store, base_url: str) -> list[str]:
    base = f"{base_url}/admin/returns/desk"
    lines = [
        f"returns queue   {base}/ (returns waiting for review; filters, bulk approve)",
        f"rules editor    {base}/rules/?store={store.slug} (test a draft on last month's orders)",
        f"returns reports {base}/reports/?store={store.slug}",
        f"returns portal  {base_url}/returns (a shopper finds an order by number and email)",
    ]
    flagged = (
        ReturnRequest.objects.filter(store=store, status=S.REQUESTED, fraud_flagged=True)
        .order_by("id")
        .first()
    )
    if flagged:
        lines.append(f"flagged return  {base}/{flagged.public_id}/ (fraud signals explained)")
    moving = ReturnRequest.objects.filter(store=store, status=S.IN_TRANSIT).order_by("id").first()
    for label, ret in (("return status  ", moving), ("open return    ", flagged)):
        if ret is None:
            continue
        try:
            path = reverse("returns:status", args=[return_status_token(ret)])
        except NoReverseMatch:
            continue
        lines.append(f"{label} {base_url}{path} (the shopper's status page)")
    credit = (
        StoreCreditAccount.objects.filter(store=store, balance__gt=0).order_by("-balance").first()
    )
    if credit:
        lines.append(
            f"store credit    {base_url}/admin/returns/storecreditaccount/{credit.pk}/change/"
        )
    return lines
