"""What the flows back office needs beyond the services: the definition as readable YAML and as a
list of steps in words, a simulation summary in the store's time zone, built-in resets and
uploaded discount codes read from text or CSV.

Nothing here writes except flow_reset_builtin, which goes through services.flow_update.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db.models import Count, QuerySet

from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.journeys.definition import (
    END,
    STEP_TYPES,
    TRIGGER_EVENTS,
    ConditionStep,
    Definition,
    DefinitionError,
    DiscountStep,
    Filter,
    RandomSplitStep,
    SendStep,
    TagStep,
    Trigger,
    WaitStep,
    WebhookStep,
    parse_definition,
)
from aftersale.journeys.models import Flow, FlowVersion
from aftersale.journeys.services import definition_check, flow_update
from aftersale.journeys.simulation import SimulationReport, simulate_flow
from aftersale.messaging.policy import zone

# What "Add flow" starts from: small, valid, and switched off until the merchant is ready.
NEW_FLOW_TEMPLATE = """\
trigger:
  event: shipment.delivered
  once_per: order
steps:
  - id: wait-3d
    type: wait
    duration: 3d
  - id: ask
    type: send
    kind: feedback_request
    channel: email
exit:
  - event: order.cancelled
  - unsubscribed: true
"""

# -- the definition as YAML -------------------------------------------------------------------

TOP_ORDER = ("trigger", "steps", "exit")
TRIGGER_ORDER = ("event", "filters", "once_per", "max_age", "lead_days", "fallback_days")
STEP_ORDER = (
    "id",
    "type",
    "duration",
    "until_time",
    "until_event",
    "timeout",
    "if",
    "then",
    "else",
    "branches",
    "kind",
    "channel",
    "tag",
    "generate",
    "pool",
    "url",
    "max_attempts",
    "next",
)
FILTER_ORDER = ("field", "op", "value")
BRANCH_ORDER = ("name", "percent", "next", "holdout")
EXIT_ORDER = ("event", "new_order", "unsubscribed")
# Shown even at their default value: a send says which channel it uses.
KEPT_STEP_KEYS = {"channel"}
# Trigger settings that only mean something for one event.
REORDER_ONLY = {"lead_days", "fallback_days"}


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, long strings left on one line."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _ordered(data: dict, order: tuple[str, ...]) -> dict:
    first = {k: data[k] for k in order if k in data}
    return {**first, **{k: v for k, v in data.items() if k not in first}}


def _defaults(model) -> dict[str, Any]:
    """A pydantic model's field defaults, by the name the YAML uses (its alias)."""
    found = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            found[info.alias or name] = info.get_default(call_default_factory=True)
    return found


def _without_defaults(data: dict, defaults: dict[str, Any]) -> dict:
    return {k: v for k, v in data.items() if k not in defaults or v != defaults[k]}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def readable_definition(definition: dict) -> dict:
    """The stored definition with the defaults the parser fills in left out, keys in reading
    order (trigger, steps, exit; id and type first). Parsing it again gives the same version."""
    trigger = dict(definition.get("trigger") or {})
    trigger_defaults = _defaults(Trigger)
    if trigger.get("event") == "product.reorder_due":
        trigger_defaults = {k: v for k, v in trigger_defaults.items() if k not in REORDER_ONLY}
    trigger = _without_defaults(trigger, trigger_defaults)
    if trigger.get("filters"):
        filters = [_ordered(dict(f), FILTER_ORDER) for f in trigger["filters"]]
        trigger["filters"] = [_without_defaults(f, {"value": None}) for f in filters]
    steps = []
    for raw in definition.get("steps") or []:
        step = dict(raw)
        model = STEP_TYPES.get(step.get("type"))
        if model is not None:
            defaults = {k: v for k, v in _defaults(model).items() if k not in KEPT_STEP_KEYS}
            step = _without_defaults(step, defaults)
        if isinstance(step.get("if"), dict):
            step["if"] = _without_defaults(_ordered(step["if"], FILTER_ORDER), {"value": None})
        if isinstance(step.get("branches"), list):
            step["branches"] = [
                _without_defaults(
                    _ordered({**b, "percent": _number(b.get("percent"))}, BRANCH_ORDER),
                    {"holdout": False, "next": None},
                )
                for b in step["branches"]
            ]
        steps.append(_ordered(step, STEP_ORDER))
    exits = [
        _ordered(_without_defaults(dict(rule), _defaults_exit()), EXIT_ORDER)
        for rule in definition.get("exit") or []
    ]
    data: dict[str, Any] = {"trigger": _ordered(trigger, TRIGGER_ORDER), "steps": steps}
    if exits:
        data["exit"] = exits
    extra = {k: v for k, v in definition.items() if k not in TOP_ORDER}
    return {**data, **extra}


def _defaults_exit() -> dict[str, Any]:
    return {"event": None, "new_order": False, "unsubscribed": False}


def definition_yaml(definition: dict) -> str:
    """A stored definition as block-style YAML for the editor."""
    return yaml.dump(
        readable_definition(definition),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


# -- the definition in words -------------------------------------------------------------------

OP_WORDS = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "in": "is one of",
    "contains": "contains",
}
UNIT_WORDS = {"m": "minute", "h": "hour", "d": "day", "w": "week"}


@dataclass(frozen=True)
class StepLine:
    number: int
    step_id: str
    kind: str
    text: str


@dataclass(frozen=True)
class Outline:
    """A definition in words: when it starts, its steps in order, what ends it early."""

    trigger: str
    steps: list[StepLine]
    exits: list[str]


@dataclass(frozen=True)
class OutlineResult:
    outline: Outline | None = None
    error: str = ""
    step: str | None = None


def duration_words(value: str) -> str:
    value = str(value).strip()
    number, unit = value[:-1].strip(), value[-1:]
    if unit not in UNIT_WORDS or not number.isdigit():
        return f"{value} seconds" if value.isdigit() else value
    word = UNIT_WORDS[unit]
    return f"{number} {word}{'' if number == '1' else 's'}"


def filter_words(rule: Filter) -> str:
    if rule.op == "is_true":
        return f"{rule.field} = true"
    if rule.op == "is_false":
        return f"{rule.field} = false"
    value = rule.value
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value)
        shown = f"[{shown}]"
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    else:
        shown = str(value)
    return f"{rule.field} {OP_WORDS.get(rule.op, rule.op)} {shown}"


def _target(target: str) -> str:
    return "end" if target == END else f"step {target}"


def step_words(definition: Definition, step: Any) -> str:
    if isinstance(step, WaitStep):
        if step.duration:
            text = f"wait {duration_words(step.duration)}"
        elif step.until_time:
            text = f"wait until {step.at_time:%H:%M} in the shopper's time zone"
        else:
            text = f"wait for {step.until_event}, at most {duration_words(step.timeout or '0m')}"
    elif isinstance(step, ConditionStep):
        then, otherwise = definition.successors(step)
        text = f"if {filter_words(step.if_)} → {_target(then)}, else → {_target(otherwise)}"
        return text
    elif isinstance(step, RandomSplitStep):
        parts = []
        for branch, target in zip(step.branches, definition.successors(step), strict=True):
            percent = f"{branch.percent:g}%"
            if branch.holdout:
                name = "" if branch.name.lower() == "holdout" else f" ({branch.name})"
                parts.append(f"holdout{name} {percent}")
            else:
                parts.append(f"{branch.name} {percent} → {_target(target)}")
        return "A/B: " + ", ".join(parts)
    elif isinstance(step, SendStep):
        text = f"send {step.kind} by {'SMS' if step.channel == 'sms' else step.channel}"
    elif isinstance(step, TagStep):
        text = f"tag the customer {step.tag!r}"
    elif isinstance(step, DiscountStep):
        if step.generate is not None:
            spec = step.generate
            text = f"issue a {spec.percent_off}% code {spec.prefix}-…"
            if spec.expires_in:
                text += f", valid {duration_words(spec.expires_in)}"
        else:
            text = f"issue a code from the pool {step.pool!r}"
    elif isinstance(step, WebhookStep):
        text = f"POST to {step.url} (up to {step.max_attempts} attempts)"
    else:  # pragma: no cover - every step type is handled above
        text = step.type
    if step.next:
        text += f", then → {_target(step.next)}"
    return text


def trigger_words(trigger: Trigger) -> str:
    about = TRIGGER_EVENTS.get(trigger.event, trigger.event)
    text = f"{trigger.event} — {about}"
    if trigger.filters:
        text += ", if " + " and ".join(filter_words(f) for f in trigger.filters)
    if trigger.once_per != "subject":
        text += f"; once per {trigger.once_per}"
    if trigger.event == "product.reorder_due":
        text += (
            f"; {trigger.lead_days} days before the usual reorder date"
            f" (assuming {trigger.fallback_days} days without history)"
        )
    return text


def outline_of(definition: Definition) -> Outline:
    steps = [
        StepLine(number=i, step_id=step.id, kind=step.type, text=step_words(definition, step))
        for i, step in enumerate(definition.typed_steps, start=1)
    ]
    exits = []
    for rule in definition.exit:
        if rule.unsubscribed:
            exits.append("the shopper unsubscribes")
        elif rule.new_order:
            exits.append(f"{rule.event} (a new order after enrolling)")
        elif rule.event:
            exits.append(rule.event)
    return Outline(trigger=trigger_words(definition.trigger), steps=steps, exits=exits)


def definition_outline(*, store: Store | None, source: str | dict) -> OutlineResult:
    """Parse and check a definition; its outline, or the error naming the step. Writes nothing."""
    if isinstance(source, str) and not source.strip():
        return OutlineResult(error="the definition is empty")
    try:
        parsed = (
            definition_check(store=store, source=source)
            if store is not None
            else parse_definition(source)
        )
    except DefinitionError as exc:
        return OutlineResult(error=exc.message, step=exc.step)
    return OutlineResult(outline=outline_of(parsed))


# -- versions -----------------------------------------------------------------------------------


def flow_versions(*, flow: Flow) -> QuerySet[FlowVersion]:
    """The flow's versions, newest first, each with how many enrolments run on it."""
    return (
        FlowVersion.objects.filter(flow=flow)
        .annotate(enrolment_count=Count("enrolments"))
        .order_by("-number")
    )


def flow_reset_builtin(*, store: Store, flow: Flow) -> bool:
    """Put a built-in flow back to its shipped definition, name and description. Returns whether
    a new version was made; running enrolments keep theirs."""
    from aftersale.journeys.builtin import BUILTIN_FLOWS

    spec = next((b for b in BUILTIN_FLOWS if b.key == flow.key), None)
    if not flow.builtin or spec is None:
        raise DefinitionError(f"{flow.name} is not a built-in flow")
    before = flow.current_version_id
    updated = flow_update(
        store=store,
        flow=flow,
        definition=spec.definition,
        name=spec.name,
        description=spec.description,
    )
    return updated.current_version_id != before


# -- simulation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepCount:
    line: StepLine
    reached: int
    passed: int
    outcomes: list[tuple[str, int]]


@dataclass(frozen=True)
class KindCount:
    kind: str
    channels: str
    count: int
    # Time from entering the flow to the message, over the listed rows.
    earliest_after: str
    latest_after: str


@dataclass(frozen=True)
class MessageRow:
    customer: str
    order: str
    step: str
    kind: str
    channel: str
    entered_at: dt.datetime
    at: dt.datetime


@dataclass
class SimulationView:
    """A simulation report arranged for a page, times in the store's zone."""

    report: SimulationReport
    time_zone: str
    outline: Outline
    steps: list[StepCount] = field(default_factory=list)
    kinds: list[KindCount] = field(default_factory=list)
    messages: list[MessageRow] = field(default_factory=list)
    total_messages: int = 0
    # (name, count), most first: templates cannot call Counter.most_common.
    branches: list[tuple[str, int]] = field(default_factory=list)
    exit_reasons: list[tuple[str, int]] = field(default_factory=list)


def delay_words(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts) or "at once"


def local_day_bounds(
    store: Store, since: dt.date, until: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    """From the start of `since` to the end of `until`, both days in the store's zone, in UTC."""
    tz = zone(store.time_zone)
    start = dt.datetime.combine(since, dt.time(0, 0), tzinfo=tz)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0, 0), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def flow_simulation(
    *,
    store: Store,
    source: str | dict,
    since: dt.date,
    until: dt.date,
    rows: int = 50,
) -> SimulationView:
    """Run the definition over the store's history between two local days. Writes and sends
    nothing (simulate_flow rolls its transaction back); raises DefinitionError when the
    definition is refused."""
    parsed = definition_check(store=store, source=source)
    start, end = local_day_bounds(store, since, until)
    report = simulate_flow(store, parsed, start, end, rows=rows)
    outline = outline_of(parsed)
    view = SimulationView(report=report, time_zone=store.time_zone, outline=outline)
    for line in outline.steps:
        outcomes = report.steps.get(line.step_id) or Counter()
        reached = sum(outcomes.values())
        view.steps.append(
            StepCount(
                line=line,
                reached=reached,
                passed=reached - outcomes.get("exited", 0),
                outcomes=sorted(outcomes.items(), key=lambda item: (-item[1], item[0])),
            )
        )
    tz = zone(store.time_zone)
    delays: dict[str, list[dt.timedelta]] = {}
    channels: dict[str, set[str]] = {}
    for row in report.rows:
        sends = [s for s in row.steps if s.outcome == "queued"]
        for step, message in zip(sends, row.messages, strict=False):
            delays.setdefault(message.kind, []).append(message.at - row.entered_at)
            channels.setdefault(message.kind, set()).add(message.channel)
            view.messages.append(
                MessageRow(
                    customer=row.customer,
                    order=row.order,
                    step=step.step_id,
                    kind=message.kind,
                    channel=message.channel,
                    entered_at=row.entered_at.astimezone(tz),
                    at=message.at.astimezone(tz),
                )
            )
    for kind, count in report.messages.most_common():
        seen = delays.get(kind) or []
        view.kinds.append(
            KindCount(
                kind=kind,
                channels=", ".join(sorted(channels.get(kind) or [])),
                count=count,
                earliest_after=delay_words(min(seen)) if seen else "",
                latest_after=delay_words(max(seen)) if seen else "",
            )
        )
    view.total_messages = sum(report.messages.values())
    view.branches = report.branches.most_common()
    view.exit_reasons = report.exit_reasons.most_common()
    view.messages = view.messages[:rows]
    return view


# -- discount codes -----------------------------------------------------------------------------


def codes_from_text(text: str) -> list[str]:
    """One code per line; blank lines and surrounding spaces are dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def codes_from_csv(content: bytes) -> list[str]:
    """The first column of a CSV file, skipping a header row named code(s)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("the CSV file is not UTF-8 text", field="csv_file") from None
    codes = []
    for index, row in enumerate(csv.reader(io.StringIO(text))):
        if not row or not row[0].strip():
            continue
        value = row[0].strip()
        if index == 0 and value.lower() in {"code", "codes", "discount code"}:
            continue
        codes.append(value)
    return codes
