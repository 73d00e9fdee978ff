"""The demo's message history: what the store's shoppers were sent over the last three months.

Written directly with historical times (like the orders), with the decisions the sender would
have made — suppressed without consent, a bounced address, an opt-out, a few clicks — plus
review and feedback requests still due, which the running demo worker sends when their time comes.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db.models import F

from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.journeys.models import Enrolment, Flow, ScheduledStep, StepRun
from aftersale.journeys.services import flow_update
from aftersale.messaging.kinds import get_kind
from aftersale.messaging.locales import normalize_locale
from aftersale.messaging.message_templates import ensure_store_templates, resolve_template
from aftersale.messaging.models import (
    ContactPreference,
    KindPolicy,
    LinkClick,
    Message,
    MessageLog,
    MessagingSettings,
    Suppression,
)
from aftersale.messaging.rendering import TemplateError, render_part
from aftersale.messaging.sending import message_context
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment

HISTORY_DAYS = 90

# Which built-in flow sends each kind: (flow key, its send step, the steps before it).
FLOW_OF_KIND = {
    "order_confirmation": ("order-confirmation", "confirm", ()),
    "shipping_confirmation": ("shipping-confirmation", "shipped", ()),
    "delivered": ("delivered-thank-you", "delivered", ()),
    "thank_you": ("delivered-thank-you", "thank-you", ("wait-1d",)),
    "review_request": ("review-request", "ask", ("wait-7d", "open-return", "reviewed", "morning")),
    "exclusive_offer": ("exclusive-offer", "offer", ("code",)),
}
# What the engine records for the steps before a send.
STEP_OUTCOMES = {"open-return": "else", "reviewed": "else", "code": "issued"}
# How long after the trigger each flow sends.
FLOW_DELAY = {
    "review-request": timedelta(days=7),
}


def _with_holdout(store: Store, flow: Flow) -> Flow:
    """The demo merchant tests the review request against a 10% holdout (a second version)."""
    definition = dict(flow.current_version.definition)
    if any(step.get("type") == "random_split" for step in definition["steps"]):
        return flow
    steps = []
    for step in definition["steps"]:
        if step.get("id") == "reviewed":
            step = {**step, "else": "ab"}
        steps.append(step)
        if step.get("id") == "reviewed":
            steps.append(
                {
                    "id": "ab",
                    "type": "random_split",
                    "branches": [
                        {"name": "A", "percent": 90, "next": "morning"},
                        {"name": "holdout", "percent": 10, "holdout": True},
                    ],
                }
            )
    return flow_update(store=store, flow=flow, definition={**definition, "steps": steps})


def seed_message_history(store: Store, rng: random.Random, now: datetime) -> dict[str, int]:
    MessagingSettings.objects.get_or_create(
        store=store,
        defaults={
            "sender_name": store.name,
            "sender_email": f"hello@{store.slug}.example",
            "reply_to": store.support_email,
            "sms_sender": "+4915100000000" if store.currency == "EUR" else "+5511900000000",
            "fatigue_limit": 3,
            "fatigue_window_days": 7,
        },
    )
    KindPolicy.objects.get_or_create(
        store=store, kind="order_confirmation", defaults={"ignore_quiet_hours": True}
    )
    ensure_store_templates(store)
    builder = _History(store, rng, now)
    builder.build()
    return builder.counts


class _History:
    def __init__(self, store: Store, rng: random.Random, now: datetime):
        self.store, self.rng, self.now = store, rng, now
        self.messages: list[Message] = []
        self.logs: list[tuple[int, str, str, datetime]] = []
        self.subjects: dict[tuple[str, str], str] = {}
        self.counts: dict[str, int] = {}
        self.budget: dict[int, list[datetime]] = {}

    def build(self) -> None:
        since = self.now - timedelta(days=HISTORY_DAYS)
        orders = list(
            Order.objects.filter(store=self.store, placed_at__gte=since)
            .exclude(external_id__startswith="live")
            .select_related("customer")
            .order_by("placed_at")
        )
        shipments: dict[int, list[Shipment]] = {}
        for shipment in Shipment.objects.filter(store=self.store, order__in=orders):
            shipments.setdefault(shipment.order_id, []).append(shipment)
        order_counts = _order_numbers(self.store)

        # A few shoppers chose fewer messages, one address bounced.
        customers = [o.customer for o in orders if o.customer is not None]
        opted_out = set()
        for customer in self.rng.sample(customers, min(12, len(customers))):
            ContactPreference.objects.get_or_create(
                store=self.store,
                customer=customer,
                defaults={
                    "offers": False,
                    "feedback": self.rng.random() < 0.5,
                    "updated_via": "preferences page",
                },
            )
            opted_out.add(customer.pk)
        bounced = customers[len(customers) // 3] if customers else None

        for order in orders:
            customer = order.customer
            address = order.email or (customer.email if customer else "")
            self._add(
                order,
                None,
                "order_confirmation",
                order.placed_at + timedelta(minutes=1),
                address,
                bounce=customer is not None and customer == bounced,
            )
            if customer is not None and customer == bounced:
                continue
            for shipment in shipments.get(order.pk, []):
                if shipment.shipped_at:
                    self._add(
                        order, shipment, "shipping_confirmation", shipment.shipped_at, address
                    )
                if shipment.delivered_at:
                    self._add(order, shipment, "delivered", shipment.delivered_at, address)
                    self._add(
                        order, None, "thank_you", shipment.delivered_at + timedelta(days=1), address
                    )
                    self._add(
                        order,
                        None,
                        "review_request",
                        shipment.delivered_at + timedelta(days=7),
                        address,
                        opted_out=customer is not None and customer.pk in opted_out,
                    )
            if customer is not None and order_counts.get(order.pk) == 2:
                self._add(
                    order,
                    None,
                    "exclusive_offer",
                    order.placed_at + timedelta(hours=2),
                    address,
                    context={
                        "discount": {"code": f"THANKS-{order.number}", "description": "10% off"}
                    },
                )
        if bounced is not None and bounced.email:
            Suppression.objects.get_or_create(
                store=self.store,
                channel="email",
                address=bounced.email,
                defaults={"reason": "hard_bounce", "detail": "550 5.1.1 mailbox unavailable"},
            )
        self._enrol()
        self._write()

    def _enrol(self) -> None:
        """Each message was sent by a built-in flow: give it the enrolment and step history the
        engine would have written, so the flows' results have three months to show."""
        flows = {f.key: f for f in Flow.objects.filter(store=self.store)}
        review = flows.get("review-request")
        if review is not None:
            review = _with_holdout(self.store, review)
            flows["review-request"] = review
        enrolments, runs, scheduled = [], [], []
        by_subject: dict[tuple[str, str], Enrolment] = {}
        linked: set[str] = set()
        for message in list(self.messages):
            spec = FLOW_OF_KIND.get(message.kind)
            if spec is None or spec[0] not in flows:
                continue
            key, send_step, before = spec
            flow = flows[key]
            subject = message.shipment if key == "shipping-confirmation" else message.order
            enrolled = message.due_at - FLOW_DELAY.get(key, timedelta(0))
            branch = ""
            steps = list(before)
            if key == "review-request":
                branch = "holdout" if self.rng.random() < 0.10 else "A"
                steps.append("ab")
            enrolment = by_subject.get((key, subject.public_id))
            if enrolment is None:
                enrolment = Enrolment(
                    store=self.store,
                    flow=flow,
                    version_id=flow.current_version_id,
                    customer=message.customer,
                    order=message.order,
                    shipment=message.shipment,
                    subject_ref=subject.public_id,
                    branch=branch,
                    enrolled_at=enrolled,
                )
                by_subject[(key, subject.public_id)] = enrolment
                enrolments.append(enrolment)
            else:
                enrolled = enrolment.finished_at or enrolled  # a later step of the same flow
            holdout = branch == "holdout"
            pending = message.due_at > self.now and not holdout
            if pending:
                enrolment.finished_at = None
                # Still to come: the engine sends it when the step is due (the message exists
                # under the step's key, so it is not made twice).
                enrolment.state, enrolment.current_step = Enrolment.State.ACTIVE, send_step
                scheduled.append(
                    ScheduledStep(enrolment=enrolment, step_id=send_step, due_at=message.due_at)
                )
            else:
                enrolment.state = Enrolment.State.COMPLETED
                enrolment.current_step = "ab" if holdout else send_step
                enrolment.finished_at = enrolled if holdout else message.due_at
            for step in steps:
                outcome = STEP_OUTCOMES.get(step, "waited")
                if step == "ab":
                    outcome = "holdout" if holdout else "branch:A"
                runs.append(
                    StepRun(
                        store=self.store,
                        flow=flow,
                        enrolment=enrolment,
                        step_id=step,
                        outcome=outcome,
                        detail=branch if step == "ab" else "",
                        at=enrolled,
                    )
                )
            if holdout:
                self.messages.remove(message)
                self.counts[message.status] -= 1
                continue
            step_key = f"flow:{enrolment.public_id}:{send_step}"
            if step_key in linked:
                continue  # a second parcel of the same order: the flow sent once
            linked.add(step_key)
            if not pending:
                suppressed = message.status == Message.Status.SUPPRESSED
                runs.append(
                    StepRun(
                        store=self.store,
                        flow=flow,
                        enrolment=enrolment,
                        step_id=send_step,
                        outcome="suppressed" if suppressed else "queued",
                        detail=message.kind,
                        at=message.due_at,
                    )
                )
            message.idempotency_key = step_key
            message.origin = f"flow:{flow.public_id}:{send_step}"
        existing = set(
            Enrolment.objects.filter(store=self.store).values_list("flow_id", "subject_ref")
        )
        fresh = [e for e in enrolments if (e.flow_id, e.subject_ref) not in existing]
        unique: dict[tuple[int, str], Enrolment] = {}
        for e in fresh:
            unique.setdefault((e.flow_id, e.subject_ref), e)
        Enrolment.objects.bulk_create(unique.values(), batch_size=500)
        kept = {id(e) for e in unique.values()}
        StepRun.objects.bulk_create([r for r in runs if id(r.enrolment) in kept], batch_size=1000)
        ScheduledStep.objects.bulk_create([s for s in scheduled if id(s.enrolment) in kept])
        self.counts["enrolments"] = len(kept)

    def _subject(self, message: Message) -> str:
        key = (message.kind, message.locale)
        if key not in self.subjects:
            resolved = resolve_template(
                store=self.store, kind=message.kind, channel="email", locale=message.locale
            )
            try:
                context = message_context(message, marketing=message.category != "transactional")
                self.subjects[key] = render_part(
                    resolved.parts.subject, context, part="subject", autoescape=False
                )
            except TemplateError:
                self.subjects[key] = ""
        return self.subjects[key]

    def _add(
        self, order, shipment, kind, when, address, *, bounce=False, opted_out=False, context=None
    ):
        spec = get_kind(kind)
        customer = order.customer
        subject_ref = shipment.public_id if shipment else order.public_id
        message = Message(
            store=self.store,
            customer=customer,
            order=order,
            shipment=shipment,
            kind=kind,
            category=spec.category,
            channel="email",
            recipient=address,
            locale=normalize_locale(customer.locale if customer else "", self.store.default_locale),
            time_zone=(customer.time_zone if customer else "") or self.store.time_zone,
            idempotency_key=f"{kind}:{subject_ref}:email:{address}",
            origin="flow:builtin",
            context=context or {},
            priority=spec.priority,
            due_at=when,
        )
        reason = ""
        if not address:
            reason = "no email address to send to"
        elif spec.category in ("reminders", "offers") and not (
            customer and customer.accepts_marketing
        ):
            reason = "no marketing consent"
        elif opted_out:
            reason = "opted out of feedback and review requests by email"
        if reason:
            message.status, message.status_reason = Message.Status.SUPPRESSED, reason
        elif when > self.now:
            message.status = Message.Status.QUEUED
        elif bounce:
            message.status = Message.Status.BOUNCED
            message.status_reason = "recipient refused: 550 5.1.1 mailbox unavailable"
        elif spec.is_marketing and self._over_budget(customer, when):
            message.status = Message.Status.EXPIRED
            message.status_reason = (
                "fatigue budget full (3 per 7 days); the next free time is after it expires"
            )
        else:
            message.status = Message.Status.SENT
            message.sent_at = when + timedelta(seconds=self.rng.randrange(2, 40))
            message.handed_off_at = message.sent_at
            if spec.is_marketing and customer is not None:
                message.budgeted_at = message.sent_at
        if message.status == Message.Status.SENT:
            message.subject = self._subject(message)
        self.messages.append(message)
        self.counts[message.status] = self.counts.get(message.status, 0) + 1

    def _over_budget(self, customer: Customer | None, when: datetime) -> bool:
        if customer is None:
            return False
        recent = [t for t in self.budget.get(customer.pk, []) if t > when - timedelta(days=7)]
        if len(recent) >= 3:
            return True
        self.budget.setdefault(customer.pk, []).append(when)
        return False

    def _write(self) -> None:
        existing = set(
            Message.objects.filter(store=self.store).values_list("idempotency_key", flat=True)
        )
        fresh = [m for m in self.messages if m.idempotency_key not in existing]
        Message.objects.bulk_create(fresh, batch_size=500)
        saved = {
            key: (pk, status, due, sent)
            for key, pk, status, due, sent in Message.objects.filter(store=self.store).values_list(
                "idempotency_key", "pk", "status", "due_at", "sent_at"
            )
        }
        Message.objects.filter(store=self.store).update(created_at=F("due_at"))
        logs, clicks = [], []
        for message in fresh:
            pk, status, due, sent = saved[message.idempotency_key]
            logs.append(MessageLog(message_id=pk, status="queued", at=due))
            if status in ("queued",):
                continue
            at = sent or due
            logs.append(
                MessageLog(message_id=pk, status=status, detail=message.status_reason, at=at)
            )
            if status == "sent" and self.rng.random() < 0.22:
                clicks.append(
                    LinkClick(
                        store=self.store,
                        message_id=pk,
                        url=self.store.website_url or "https://example.com",
                        clicked_at=at + timedelta(minutes=self.rng.randrange(3, 600)),
                    )
                )
        MessageLog.objects.bulk_create(logs, batch_size=1000)
        LinkClick.objects.bulk_create(clicks, batch_size=1000)
        self.counts["clicks"] = len(clicks)


def _order_numbers(store: Store) -> dict[int, int]:
    """Each order's position among its customer's orders (1 = first order)."""
    positions: dict[int, int] = {}
    seen: dict[int, int] = {}
    for pk, customer_id in (
        Order.objects.filter(store=store, customer__isnull=False)
        .order_by("placed_at", "id")
        .values_list("pk", "customer_id")
    ):
        seen[customer_id] = seen.get(customer_id, 0) + 1
        positions[pk] = seen[customer_id]
    return positions
