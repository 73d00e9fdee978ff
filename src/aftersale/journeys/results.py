"""What a flow did, for the merchant: per flow, per step, per message, and against its holdout.

Selectors only: everything is read with aggregate queries (Count / Sum / Exists grouped in the
database), so a page costs the same number of queries for ten enrolments as for a million.

Who is counted
    A flow's results cover the enrolments whose `enrolled_at` falls in [start, end), and the
    messages those enrolments sent. A flow's send step keys its message
    `flow:<enrolment public id>:<step id>` with origin `flow:<flow public id>:<step id>`
    (runner._send), so a message is tied to its enrolment by the public id inside its key.

Conversions (last touch)
    A *touch* is a flow message that was sent (status "sent", at `sent_at`) or a click on a
    flow message (at `clicked_at`). An order of a customer, not cancelled, is credited to the
    message of the customer's latest touch at or before `placed_at`, and only when that touch is
    at most the attribution window (settings.AFTERSALE_ATTRIBUTION_DAYS, or the request's
    value) before the order. So a click extends the window past the send, a later send or
    click takes the credit from an earlier one, and each order is counted once, for one step of
    one flow, however many messages touched it. Touches of every flow compete, so the flows'
    conversions add up without double counting. Revenue is `Order.total` summed per currency;
    amounts in different currencies are never added.

Holdout (incrementality)
    Enrolments that a random split put into a holdout branch (a branch flagged `holdout` in any
    version of the flow, or named "holdout") are the control group; enrolments that the split
    put into any other branch are treated. Enrolments without a branch yet (not at the split)
    and enrolments without a customer (their orders cannot be seen) are in neither group. An
    enrolment converts when its customer placed an order, not cancelled and not the order that
    started the enrolment, in (enrolled_at, enrolled_at + window]. See `newcombe_interval` for
    the confidence interval of the difference.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Substr

from aftersale.core import clock
from aftersale.core.ids import new_public_id
from aftersale.journeys.definition import Definition, RandomSplitStep, SendStep, WaitStep
from aftersale.journeys.models import Enrolment, Flow, FlowVersion, ScheduledStep, StepRun
from aftersale.journeys.services import definition_of
from aftersale.messaging.models import LinkClick, Message
from aftersale.orders.models import Order

DEFAULT_RANGE_DAYS = 90
HOLDOUT_NAME = "holdout"
# z for a two-sided 95% interval: the 0.975 quantile of the standard normal distribution.
Z_95 = 1.959963984540054

# Message status -> the SendResults counter it adds to (suppressed ones are kept by reason).
STATUS_COUNTERS = {
    Message.Status.QUEUED: "queued",
    Message.Status.SENDING: "queued",
    Message.Status.SENT: "sent",
    Message.Status.FAILED: "failed",
    Message.Status.BOUNCED: "bounced",
    Message.Status.EXPIRED: "expired",
}

FLOW_ORIGIN = "flow:"
# A flow message's idempotency key is "flow:" + the enrolment's public id + ":" + the step id;
# public ids have one fixed length ("enr_" + 26 characters).
_KEY_REF_START = len("flow:") + 1  # SQL strings count from 1
_ENROLMENT_REF_LENGTH = len(new_public_id("enr"))


# -- statistics (math only) -----------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion p = x/n:

        centre = (p + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p(1 − p)/n + z²/4n²)
        (l, u) = (centre − half, centre + half)

    Unlike the Wald interval it stays inside [0, 1] and behaves at 0 and n successes."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, z: float = Z_95
) -> tuple[float, float, float]:
    """The difference d = p1 − p2 of two independent proportions with Newcombe's hybrid score
    interval (Newcombe 1998, method 10), from the Wilson intervals (l1, u1) and (l2, u2):

        L = d − sqrt((p1 − l1)² + (u2 − p2)²)
        U = d + sqrt((u1 − p1)² + (p2 − l2)²)

    Returns (d, L, U). Good coverage for small groups and rates near 0, where the Wald interval
    d ± z·sqrt(p1q1/n1 + p2q2/n2) is too narrow."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


@dataclass(frozen=True)
class HoldoutComparison:
    treated: int
    treated_converted: int
    holdout: int
    holdout_converted: int

    @property
    def measurable(self) -> bool:
        return self.treated > 0 and self.holdout > 0

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_converted / self.holdout if self.holdout else None

    @property
    def interval(self) -> tuple[float, float, float] | None:
        """(difference, low, high) of treated minus holdout conversion rate, 95%."""
        if not self.measurable:
            return None
        return newcombe_interval(
            self.treated_converted, self.treated, self.holdout_converted, self.holdout
        )

    @property
    def difference(self) -> float | None:
        return self.interval[0] if self.interval else None

    @property
    def relative_lift(self) -> float | None:
        """(p_treated − p_holdout) / p_holdout; None when the holdout never converted."""
        if not self.measurable or not self.holdout_converted:
            return None
        assert self.treated_rate is not None and self.holdout_rate is not None
        return (self.treated_rate - self.holdout_rate) / self.holdout_rate

    @property
    def verdict(self) -> str:
        """ "added", "lowered", "none" (the interval includes zero) or "unknown"."""
        if self.interval is None:
            return "unknown"
        _, low, high = self.interval
        if low > 0:
            return "added"
        if high < 0:
            return "lowered"
        return "none"

    def reading(self) -> str:
        """The comparison in one plain sentence, in percentage points."""
        if self.interval is None:
            return "no comparison yet — both the flow and its holdout need enrolments"
        d, low, high = (100 * v for v in self.interval)
        ci = f"(95% CI {low:.1f} to {high:.1f})"
        if self.verdict == "added":
            return f"the flow added {d:.1f} points of conversion {ci}"
        if self.verdict == "lowered":
            return f"the flow lowered conversion by {-d:.1f} points {ci}"
        return f"no detectable effect yet — the interval includes zero {ci}"


# -- the bundle -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: dt.datetime  # enrolled_at >= start
    end: dt.datetime  # enrolled_at < end
    attribution_days: int

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(days=self.attribution_days)


def default_period(*, now: dt.datetime | None = None, attribution_days: int | None = None):
    now = now or clock.now()
    return Period(
        start=now - dt.timedelta(days=DEFAULT_RANGE_DAYS),
        end=now,
        attribution_days=attribution_days or settings.AFTERSALE_ATTRIBUTION_DAYS,
    )


@dataclass
class Conversions:
    orders: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)  # currency -> total

    def add(self, currency: str, orders: int, revenue: Decimal | None) -> None:
        self.orders += orders
        self.revenue[currency] = self.revenue.get(currency, Decimal(0)) + (revenue or Decimal(0))

    def merge(self, other: Conversions) -> None:
        for currency, amount in other.revenue.items():
            self.add(currency, 0, amount)
        self.orders += other.orders


@dataclass
class SendResults:
    messages: int = 0
    sent: int = 0
    queued: int = 0  # queued or being sent
    failed: int = 0
    bounced: int = 0
    expired: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)  # reason -> messages
    clicked: int = 0  # messages with at least one click
    clicks: int = 0
    conversions: Conversions = field(default_factory=Conversions)

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.sent if self.sent else None

    @property
    def conversion_rate(self) -> float | None:
        """Attributed orders per message sent."""
        return self.conversions.orders / self.sent if self.sent else None


@dataclass
class StepResults:
    id: str
    type: str
    summary: str
    in_current_version: bool = True
    reached: int = 0  # enrolments with a recorded run of the step
    here_now: int = 0  # active enrolments whose next step this is
    outcomes: dict[str, int] = field(default_factory=dict)  # outcome -> enrolments
    send: SendResults | None = None


@dataclass
class FlowResults:
    flow: Flow
    period: Period
    entered: int = 0
    active: int = 0
    waiting: int = 0  # active and waiting (their next step is due later)
    completed: int = 0
    exited: int = 0
    exit_reasons: list[tuple[str, int]] = field(default_factory=list)
    steps: list[StepResults] = field(default_factory=list)
    holdout: HoldoutComparison | None = None

    @property
    def sends(self) -> list[SendResults]:
        return [s.send for s in self.steps if s.send is not None]

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.sends)

    @property
    def conversions(self) -> Conversions:
        total = Conversions()
        for send in self.sends:
            total.merge(send.conversions)
        return total


def describe_step(step) -> str:
    if isinstance(step, SendStep):
        return f"{step.kind} by {step.channel}"
    if isinstance(step, WaitStep):
        if step.duration:
            return f"wait {step.duration}"
        if step.until_time:
            return f"wait until {step.until_time}"
        return f"wait for {step.until_event} (at most {step.timeout})"
    if isinstance(step, RandomSplitStep):
        return ", ".join(
            f"{b.name} {b.percent:g}%" + (" (holdout)" if b.holdout else "") for b in step.branches
        )
    for attr in ("tag", "url", "pool"):
        if getattr(step, attr, None):
            return str(getattr(step, attr))
    return ""


# -- the queries ----------------------------------------------------------------------------


def _enrolments(flows: QuerySet[Flow] | Iterable[Flow], period: Period) -> QuerySet[Enrolment]:
    return Enrolment.objects.filter(
        flow__in=flows, enrolled_at__gte=period.start, enrolled_at__lt=period.end
    )


def _flow_messages(
    *, store_ids: QuerySet | list[int], enrolments: QuerySet[Enrolment], origin_prefix: str
) -> QuerySet[Message]:
    """The messages the given enrolments' send steps made."""
    return (
        Message.objects.filter(store__in=store_ids, origin__startswith=origin_prefix)
        .filter(idempotency_key__startswith="flow:enr_")
        .annotate(enrolment_ref=Substr("idempotency_key", _KEY_REF_START, _ENROLMENT_REF_LENGTH))
        .filter(enrolment_ref__in=enrolments.values("public_id"))
    )


def attributed_orders(
    *, credited: QuerySet[Message], window: dt.timedelta, since: dt.datetime
) -> list[dict]:
    """Orders credited (last touch, see the module) to one of `credited`, grouped by the credited
    message's origin and the order's currency: rows of {origin, currency, orders, revenue}.

    One query: per candidate order, two correlated subqueries find the latest sent flow message
    and the latest click on a flow message of the same customer inside the window; the later of
    the two is the touch; orders whose touch is one of `credited` are grouped. `since` bounds
    the candidate orders (nothing sent for enrolments of the period can precede its start)."""
    sends = Message.objects.filter(
        store=OuterRef("store"),
        customer=OuterRef("customer"),
        origin__startswith=FLOW_ORIGIN,
        status=Message.Status.SENT,
        sent_at__lte=OuterRef("placed_at"),
        sent_at__gte=OuterRef("placed_at") - window,
    ).order_by("-sent_at", "-id")
    clicks = LinkClick.objects.filter(
        store=OuterRef("store"),
        message__customer=OuterRef("customer"),
        message__origin__startswith=FLOW_ORIGIN,
        clicked_at__lte=OuterRef("placed_at"),
        clicked_at__gte=OuterRef("placed_at") - window,
    ).order_by("-clicked_at", "-id")
    rows = (
        Order.objects.filter(customer__in=credited.values("customer_id"), placed_at__gte=since)
        .exclude(status=Order.Status.CANCELLED)
        .annotate(
            send_id=Subquery(sends.values("id")[:1]),
            send_at=Subquery(sends.values("sent_at")[:1]),
            click_message_id=Subquery(clicks.values("message_id")[:1]),
            click_at=Subquery(clicks.values("clicked_at")[:1]),
        )
        .annotate(
            touch_id=Case(
                When(
                    Q(click_at__isnull=False)
                    & (Q(send_at__isnull=True) | Q(click_at__gte=F("send_at"))),
                    then=F("click_message_id"),
                ),
                default=F("send_id"),
                output_field=BigIntegerField(),
            )
        )
        .filter(touch_id__in=credited.values("id"))
        .annotate(
            touch_origin=Subquery(Message.objects.filter(pk=OuterRef("touch_id")).values("origin"))
        )
        .values("touch_origin", "currency")
        .annotate(orders=Count("id"), revenue=Sum("total"))
        .order_by()
    )
    return [
        {
            "origin": row["touch_origin"],
            "currency": row["currency"],
            "orders": row["orders"],
            "revenue": row["revenue"],
        }
        for row in rows
    ]


def _holdout_names(flow: Flow) -> set[str]:
    names = {HOLDOUT_NAME}
    for definition in FlowVersion.objects.filter(flow=flow).values_list("definition", flat=True):
        for raw in definition.get("steps", []):
            if raw.get("type") == "random_split":
                names |= {b["name"] for b in raw.get("branches", []) if b.get("holdout")}
    return names


def _has_split(definition: Definition | None) -> bool:
    return definition is not None and any(
        isinstance(s, RandomSplitStep) for s in definition.typed_steps
    )


def holdout_comparison(
    *, enrolments: QuerySet[Enrolment], window: dt.timedelta, holdout_names: set[str]
) -> HoldoutComparison:
    """Treated against held-out enrolments (see the module for who converts), one query."""
    converted = Exists(
        Order.objects.filter(
            store=OuterRef("store"),
            customer=OuterRef("customer"),
            placed_at__gt=OuterRef("enrolled_at"),
            placed_at__lte=OuterRef("enrolled_at") + window,
        )
        .exclude(status=Order.Status.CANCELLED)
        # Not the order that started the enrolment (Coalesce: an enrolment may have none).
        .exclude(pk=Coalesce(OuterRef("order_id"), Value(0), output_field=BigIntegerField()))
    )
    in_holdout = Q(branch__in=holdout_names)
    counts = (
        enrolments.filter(customer__isnull=False)
        .exclude(branch="")
        .annotate(converted=converted)
        .aggregate(
            treated=Count("id", filter=~in_holdout),
            treated_converted=Count("id", filter=~in_holdout & Q(converted=True)),
            holdout=Count("id", filter=in_holdout),
            holdout_converted=Count("id", filter=in_holdout & Q(converted=True)),
        )
    )
    return HoldoutComparison(**counts)


def flow_results(*, flow: Flow, period: Period, now: dt.datetime | None = None) -> FlowResults:
    """Everything the results page shows for one flow (about ten queries, whatever the volume)."""
    now = now or clock.now()
    enrolments = _enrolments([flow], period)
    results = FlowResults(flow=flow, period=period)

    active = Q(state=Enrolment.State.ACTIVE)
    summary = enrolments.aggregate(
        entered=Count("id", distinct=True),
        active=Count("id", filter=active, distinct=True),
        waiting=Count(
            "id",
            filter=active & Q(steps__status=ScheduledStep.Status.PENDING, steps__due_at__gt=now),
            distinct=True,
        ),
        completed=Count("id", filter=Q(state=Enrolment.State.COMPLETED), distinct=True),
        exited=Count("id", filter=Q(state=Enrolment.State.EXITED), distinct=True),
    )
    for key, value in summary.items():
        setattr(results, key, value)
    results.exit_reasons = [
        (row["exit_reason"] or "(no reason given)", row["n"])
        for row in enrolments.filter(state=Enrolment.State.EXITED)
        .values("exit_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "exit_reason")
    ]

    # Steps, in the current definition's order; steps only older versions had come last.
    definition = definition_of(flow.current_version) if flow.current_version else None
    steps: dict[str, StepResults] = {}
    for step in definition.typed_steps if definition else []:
        steps[step.id] = StepResults(
            id=step.id,
            type=step.type,
            summary=describe_step(step),
            send=SendResults() if isinstance(step, SendStep) else None,
        )

    def step_of(step_id: str) -> StepResults:
        if step_id not in steps:
            steps[step_id] = StepResults(
                id=step_id, type="", summary="not in the current version", in_current_version=False
            )
        return steps[step_id]

    runs = StepRun.objects.filter(flow=flow, enrolment__in=enrolments).exclude(step_id="")
    for row in runs.values("step_id").annotate(n=Count("enrolment", distinct=True)).order_by():
        step_of(row["step_id"]).reached = row["n"]
    for row in (
        runs.values("step_id", "outcome")
        .annotate(n=Count("enrolment", distinct=True))
        .order_by("step_id", "-n", "outcome")
    ):
        step_of(row["step_id"]).outcomes[row["outcome"]] = row["n"]
    for row in (
        enrolments.filter(state=Enrolment.State.ACTIVE)
        .exclude(current_step="")
        .values("current_step")
        .annotate(n=Count("id"))
        .order_by()
    ):
        step_of(row["current_step"]).here_now = row["n"]

    prefix = f"flow:{flow.public_id}:"
    messages = _flow_messages(
        store_ids=[flow.store_id], enrolments=enrolments, origin_prefix=prefix
    )

    def send_of(origin: str) -> SendResults:
        step = step_of(origin.removeprefix(prefix))
        if step.send is None:
            step.send = SendResults()
        return step.send

    suppressed = Message.Status.SUPPRESSED
    for row in (
        messages.values("origin", "status")
        .annotate(
            reason=Case(When(status=suppressed, then=F("status_reason")), default=Value("")),
            n=Count("id"),
        )
        .order_by("origin", "status", "reason")
    ):
        send, status, n = send_of(row["origin"]), row["status"], row["n"]
        send.messages += n
        if status == suppressed:
            reason = row["reason"] or "(no reason given)"
            send.suppressed[reason] = send.suppressed.get(reason, 0) + n
        else:
            counter = STATUS_COUNTERS[status]
            setattr(send, counter, getattr(send, counter) + n)
    for row in (
        LinkClick.objects.filter(message__in=messages.values("id"))
        .values("message__origin")
        .annotate(clicks=Count("id"), clicked=Count("message", distinct=True))
        .order_by()
    ):
        send = send_of(row["message__origin"])
        send.clicks, send.clicked = row["clicks"], row["clicked"]
    for row in attributed_orders(credited=messages, window=period.window, since=period.start):
        send_of(row["origin"]).conversions.add(row["currency"], row["orders"], row["revenue"])

    results.steps = list(steps.values())
    names = _holdout_names(flow)
    if _has_split(definition) or enrolments.filter(branch__in=names).exists():
        results.holdout = holdout_comparison(
            enrolments=enrolments, window=period.window, holdout_names=names
        )
    return results


@dataclass
class FlowSummary:
    flow: Flow
    entered: int = 0
    sent: int = 0
    conversions: Conversions = field(default_factory=Conversions)

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions.orders / self.sent if self.sent else None


def flows_overview(*, flows: QuerySet[Flow], period: Period) -> list[FlowSummary]:
    """One line per flow: enrolments, messages sent, attributed orders and revenue (4 queries)."""
    flow_list = list(flows.select_related("store"))
    by_pk = {f.pk: FlowSummary(flow=f) for f in flow_list}
    by_public = {f.public_id: by_pk[f.pk] for f in flow_list}
    enrolments = _enrolments(flows, period)
    for row in enrolments.values("flow_id").annotate(n=Count("id")).order_by():
        by_pk[row["flow_id"]].entered = row["n"]
    messages = _flow_messages(
        store_ids=flows.values("store_id"), enrolments=enrolments, origin_prefix=FLOW_ORIGIN
    )

    def summary_of(origin: str) -> FlowSummary | None:
        return by_public.get(origin.split(":")[1] if origin.count(":") >= 2 else "")

    for row in (
        messages.filter(status=Message.Status.SENT)
        .values("origin")
        .annotate(n=Count("id"))
        .order_by()
    ):
        if found := summary_of(row["origin"]):
            found.sent += row["n"]
    for row in attributed_orders(credited=messages, window=period.window, since=period.start):
        if found := summary_of(row["origin"]):
            found.conversions.add(row["currency"], row["orders"], row["revenue"])
    return list(by_pk.values())
