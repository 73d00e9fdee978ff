"""Run a definition over a store's history without writing or sending anything.

Each past trigger (an order placed, a parcel delivered …) enters the flow at the moment it
happened; waits advance a virtual clock over that order's own history (its shipments' delivery
times, its cancellation and refunds, the customer's later orders), so the report says who would
have entered, which steps they would have passed, and which messages they would have received
when. Quiet hours, the fatigue budget and consent are the sender's business and are not
simulated; neither are unsubscribes (their history is not kept) nor reorder reminders.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Min

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.journeys.definition import (
    END,
    ConditionStep,
    Definition,
    DiscountStep,
    RandomSplitStep,
    SendStep,
    TagStep,
    WaitStep,
    WebhookStep,
    parse_definition,
    parse_duration,
)
from aftersale.journeys.fields import Facts, compare, field_value, matches
from aftersale.journeys.runner import choose_branch
from aftersale.journeys.services import Subject, _subject_ref, next_local_time
from aftersale.messaging.policy import zone
from aftersale.orders.models import Order, Refund
from aftersale.tracking.models import Shipment

MAX_SUBJECTS = 20_000


@dataclass(frozen=True)
class SimStep:
    step_id: str
    at: dt.datetime
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class SimMessage:
    kind: str
    channel: str
    at: dt.datetime


@dataclass
class SimRow:
    subject_ref: str
    customer: str
    order: str
    entered_at: dt.datetime
    end: str = ""
    branch: str = ""
    steps: list[SimStep] = field(default_factory=list)
    messages: list[SimMessage] = field(default_factory=list)


@dataclass
class SimulationReport:
    since: dt.datetime
    until: dt.datetime
    considered: int = 0
    entered: int = 0
    filtered_out: int = 0
    completed: int = 0
    exited: int = 0
    # Enrolments whose next step lies after today: the history does not tell yet.
    still_running: int = 0
    exit_reasons: Counter = field(default_factory=Counter)
    messages: Counter = field(default_factory=Counter)
    steps: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    branches: Counter = field(default_factory=Counter)
    rows: list[SimRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def simulate_flow(
    store: Store,
    definition: str | dict | Definition,
    since: dt.datetime,
    until: dt.datetime,
    *,
    rows: int = 50,
) -> SimulationReport:
    """What `definition` would have done to the store's shoppers between since and until."""
    parsed = definition if isinstance(definition, Definition) else parse_definition(definition)
    report = SimulationReport(since=since, until=until)
    # Nothing here writes; the rollback makes sure of it should a field function ever try.
    with transaction.atomic():
        _simulate(store, parsed, report, rows)
        transaction.set_rollback(True)
    return report


def _simulate(store: Store, definition: Definition, report: SimulationReport, limit: int) -> None:
    event = definition.trigger.event
    source = HISTORY.get(event)
    if source is None:
        report.notes.append(f"{event} triggers cannot be simulated from history")
        return
    if any(rule.unsubscribed for rule in definition.exit):
        report.notes.append("unsubscribes are not in the history; that exit is not simulated")
    seen: set[str] = set()
    horizon = clock.now()
    for at, subject, ref in source(store, report.since, report.until):
        report.considered += 1
        if report.considered > MAX_SUBJECTS:
            report.notes.append(f"stopped after {MAX_SUBJECTS} subjects")
            break
        ref = ref or _subject_ref(event, definition.trigger.once_per, subject)
        if ref is None or ref in seen:
            continue
        facts = Facts(
            store=store,
            now=at,
            order=subject.order,
            customer=subject.customer,
            shipment=subject.shipment,
        )
        ok, _ = matches(definition.trigger.filters, facts)
        if not ok:
            report.filtered_out += 1
            continue
        seen.add(ref)
        row = _walk(store, definition, subject, ref, at, horizon)
        report.entered += 1
        if row.end.startswith("exited"):
            report.exited += 1
            report.exit_reasons[row.end.removeprefix("exited: ")] += 1
        elif row.end == "completed":
            report.completed += 1
        else:
            report.still_running += 1
        if row.branch:
            report.branches[row.branch] += 1
        for step in row.steps:
            report.steps[step.step_id][step.outcome] += 1
        for message in row.messages:
            report.messages[message.kind] += 1
        if len(report.rows) < limit:
            report.rows.append(row)


def _exit_times(
    definition: Definition, subject: Subject, since: dt.datetime
) -> list[tuple[dt.datetime, str]]:
    found: list[tuple[dt.datetime, str]] = []
    for rule in definition.exit:
        if rule.event:
            at = event_time(rule.event, subject, since, new_order=rule.new_order)
            if at is not None:
                found.append((at, rule.event + (" (a new order)" if rule.new_order else "")))
    return sorted(found)


def _walk(
    store: Store,
    definition: Definition,
    subject: Subject,
    ref: str,
    t0: dt.datetime,
    horizon: dt.datetime,
) -> SimRow:
    customer = subject.customer
    row = SimRow(
        subject_ref=ref,
        customer=(customer.email or customer.public_id) if customer else "",
        order=subject.order.number if subject.order else "",
        entered_at=t0,
    )
    tz = (customer.time_zone if customer else "") or store.time_zone
    exits = _exit_times(definition, subject, t0)
    t = t0
    step_id = definition.first_step
    while step_id != END:
        if t > horizon:
            row.end = f"waiting at {step_id}"
            return row
        step = definition.step(step_id)
        nxt = definition.successors(step)[0]
        if isinstance(step, WaitStep):
            outcome = "waited"
            if step.duration:
                t_next = t + parse_duration(step.duration)
            elif step.until_time:
                t_next = next_local_time(t, step.at_time, tz)
            else:
                limit = t + parse_duration(step.timeout or "0m")
                happened = event_time(step.until_event or "", subject, t0)
                if happened is not None and happened <= limit:
                    t_next, outcome = max(happened, t), "event"
                else:
                    t_next, outcome = limit, "timed_out"
            exit_now = next(((at, why) for at, why in exits if at <= t_next), None)
            if exit_now is not None:
                row.end = f"exited: {exit_now[1]}"
                row.steps.append(SimStep(step.id, max(exit_now[0], t), "exited", exit_now[1]))
                return row
            t = t_next
            row.steps.append(SimStep(step.id, t, outcome))
        elif isinstance(step, ConditionStep):
            facts = Facts(
                store=store,
                now=t,
                order=subject.order,
                customer=customer,
                shipment=subject.shipment,
                enrolled_at=t0,
            )
            actual = field_value(step.if_.field, facts)
            holds = compare(actual, step.if_.op, step.if_.value)
            then, otherwise = definition.successors(step)
            nxt = then if holds else otherwise
            row.steps.append(SimStep(step.id, t, "then" if holds else "else", repr(actual)))
        elif isinstance(step, RandomSplitStep):
            branch = choose_branch(step, ref)
            row.branch = branch.name
            if branch.holdout:
                nxt = END
                row.steps.append(SimStep(step.id, t, "holdout", branch.name))
            else:
                nxt = definition.successors(step)[step.branches.index(branch)]
                row.steps.append(SimStep(step.id, t, f"branch:{branch.name}", branch.name))
        elif isinstance(step, SendStep):
            row.messages.append(SimMessage(step.kind, step.channel, t))
            row.steps.append(SimStep(step.id, t, "queued", step.kind))
        elif isinstance(step, TagStep):
            row.steps.append(SimStep(step.id, t, "tagged" if customer else "skipped", step.tag))
        elif isinstance(step, DiscountStep):
            row.steps.append(SimStep(step.id, t, "issued", step.pool or "generated"))
        elif isinstance(step, WebhookStep):
            row.steps.append(SimStep(step.id, t, "delivered", step.url))
        step_id = nxt
    row.end = "completed"
    return row


# -- the history ------------------------------------------------------------------------------


def event_time(
    event: str, subject: Subject, after: dt.datetime, *, new_order: bool = False
) -> dt.datetime | None:
    """When `event` happened for this subject at or after `after`, from the stored history."""
    order = subject.order
    if event == "shipment.delivered" and order is not None:
        shipments = Shipment.objects.filter(order=order, delivered_at__gte=after)
        if subject.shipment is not None:
            shipments = shipments.filter(pk=subject.shipment.pk)
        return shipments.aggregate(at=Min("delivered_at"))["at"]
    if event == "order.cancelled" and order is not None:
        return order.cancelled_at if order.cancelled_at and order.cancelled_at >= after else None
    if event == "refund.created" and order is not None:
        return Refund.objects.filter(order=order, processed_at__gte=after).aggregate(
            at=Min("processed_at")
        )["at"]
    if event == "order.created" and subject.customer is not None:
        later = Order.objects.filter(
            store_id=subject.customer.store_id, customer=subject.customer, placed_at__gt=after
        )
        if order is not None:
            later = later.exclude(pk=order.pk)
        return later.aggregate(at=Min("placed_at"))["at"]
    if event == "shipment.created" and order is not None:
        return Shipment.objects.filter(order=order, shipped_at__gte=after).aggregate(
            at=Min("shipped_at")
        )["at"]
    return None


History = Iterator[tuple[dt.datetime, Subject, str | None]]


def _orders_created(store: Store, since: dt.datetime, until: dt.datetime) -> History:
    orders = (
        Order.objects.filter(store=store, placed_at__gte=since, placed_at__lt=until)
        .select_related("customer", "shipping_address")
        .order_by("placed_at", "id")
    )
    for order in orders.iterator(chunk_size=500):
        yield order.placed_at, Subject(order=order, customer=order.customer), None


def _orders_cancelled(store: Store, since: dt.datetime, until: dt.datetime) -> History:
    orders = (
        Order.objects.filter(store=store, cancelled_at__gte=since, cancelled_at__lt=until)
        .select_related("customer", "shipping_address")
        .order_by("cancelled_at", "id")
    )
    for order in orders.iterator(chunk_size=500):
        assert order.cancelled_at is not None
        yield order.cancelled_at, Subject(order=order, customer=order.customer), None


def _refunds(store: Store, since: dt.datetime, until: dt.datetime) -> History:
    refunds = (
        Refund.objects.filter(store=store, processed_at__gte=since, processed_at__lt=until)
        .select_related("order__customer", "order__shipping_address")
        .order_by("processed_at", "id")
    )
    for refund in refunds.iterator(chunk_size=500):
        yield refund.processed_at, Subject(order=refund.order, customer=refund.order.customer), None


def _shipments(column: str):
    def history(store: Store, since: dt.datetime, until: dt.datetime) -> History:
        shipments = (
            Shipment.objects.filter(
                store=store, **{f"{column}__gte": since, f"{column}__lt": until}
            )
            .select_related("order__customer", "order__shipping_address")
            .order_by(column, "id")
        )
        for shipment in shipments.iterator(chunk_size=500):
            subject = Subject(
                order=shipment.order, shipment=shipment, customer=shipment.order.customer
            )
            yield getattr(shipment, column), subject, None

    return history


def _yearly(store: Store, since: dt.datetime, until: dt.datetime, days: dict[int, dt.date], kind):
    tz = zone(store.time_zone)
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=list(days))}
    found = []
    for pk, day in days.items():
        for year in range(since.astimezone(tz).year, until.astimezone(tz).year + 1):
            if kind == "anniversary" and year <= day.year:
                continue
            try:
                local = dt.date(year, day.month, day.day)
            except ValueError:  # 29 February
                local = dt.date(year, 2, 28)
            at = dt.datetime.combine(local, dt.time(0, 0), tzinfo=tz).astimezone(dt.UTC)
            if since <= at < until:
                customer = customers[pk]
                found.append(
                    (at, Subject(customer=customer), f"{kind}:{customer.public_id}:{year}")
                )
    yield from sorted(found, key=lambda item: (item[0], item[2]))


def _birthdays(store: Store, since: dt.datetime, until: dt.datetime) -> History:
    days = dict(
        Customer.objects.filter(store=store, birthday__isnull=False).values_list("pk", "birthday")
    )
    yield from _yearly(store, since, until, days, "birthday")


def _anniversaries(store: Store, since: dt.datetime, until: dt.datetime) -> History:
    tz = zone(store.time_zone)
    firsts = (
        Order.objects.filter(store=store, customer__isnull=False)
        .exclude(status=Order.Status.CANCELLED)
        .values("customer_id")
        .annotate(first=Min("placed_at"))
    )
    days = {row["customer_id"]: row["first"].astimezone(tz).date() for row in firsts}
    yield from _yearly(store, since, until, days, "anniversary")


HISTORY = {
    "order.created": _orders_created,
    "order.cancelled": _orders_cancelled,
    "refund.created": _refunds,
    "shipment.created": _shipments("shipped_at"),
    "shipment.delivered": _shipments("delivered_at"),
    "customer.birthday": _birthdays,
    "customer.anniversary": _anniversaries,
}
