"""A flow's definition: parsed from JSON or YAML, checked, and refused with the step named.

    trigger: {event: order.created, filters: [{field: order.total, op: gte, value: 50}]}
    steps:
      - {id: wait-delivery, type: wait, until_event: shipment.delivered, timeout: 14d}
      - {id: ask, type: send, kind: feedback_request, channel: email}
    exit: [{event: order.cancelled}, {unsubscribed: true}]

Steps run in list order unless `next` / `then` / `else` / a branch's `next` names another step;
"end" finishes the enrolment. The step graph must be acyclic and every step reachable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from aftersale.core.services import DomainError
from aftersale.journeys.fields import OPS, VALUELESS_OPS, app_selectors, field_names

END = "end"
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# Events a flow may start on or wait for. Most are outbox events; the derived ones come from the
# journeys subscriber (shipment.delivered) or its daily scheduler (customer.birthday, …).
TRIGGER_EVENTS = {
    "order.created": "an order is placed",
    "order.updated": "an order changes",
    "order.cancelled": "an order is cancelled",
    "refund.created": "a refund is recorded",
    "shipment.created": "a shipment is created (it ships)",
    "shipment.updated": "a shipment changes",
    "shipment.delivered": "a shipment is delivered",
    # Raised once per parcel by tracking/issues.py.
    "shipment.late": "a shipment is past its estimate or promise and not delivered",
    "shipment.stalled": "a shipment has had no carrier scan for days",
    "shipment.exception": "the carrier reports a problem with a shipment",
    "shipment.attempt_failed": "a delivery attempt failed",
    "shipment.ready_for_pickup": "a shipment waits at a pickup point",
    "shipment.returning_to_sender": "a shipment is going back to the store",
    "shipment.lost": "a shipment is lost",
    "shipment.invalid_tracking_number": "a shipment's tracking number fails its check",
    "customer.updated": "a customer changes",
    "customer.birthday": "it is the customer's birthday (store's time zone)",
    "customer.anniversary": "it is the anniversary of the customer's first order",
    "product.reorder_due": "a customer is about to run out of a product they buy again",
}
SCHEDULED_EVENTS = {"customer.birthday", "customer.anniversary", "product.reorder_due"}


def discover_triggers() -> list[str]:
    """Add the JOURNEY_TRIGGERS other apps expose in their selectors: outbox events whose payload
    names the subject by public id in `order_id`, `shipment_id` and/or `customer_id`."""
    added = []
    for module in app_selectors():
        for name, description in (getattr(module, "JOURNEY_TRIGGERS", None) or {}).items():
            if name not in TRIGGER_EVENTS:
                TRIGGER_EVENTS[name] = description
                added.append(name)
    return added


class DefinitionError(DomainError):
    def __init__(self, message: str, *, step: str | None = None):
        super().__init__(message, field=f"steps.{step}" if step else "definition")
        self.step = step


def parse_duration(value: str | int) -> dt.timedelta:
    if isinstance(value, int):
        return dt.timedelta(seconds=value)
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 30m, 12h, 3d or 2w")
    return dt.timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[str, Field(description="30m, 12h, 3d, 2w")]


def _check_duration(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value // 60}m" if value % 60 == 0 else value
    parse_duration(value)
    return str(value).strip()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Filter(Strict):
    field: str
    op: str = "eq"
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in field_names():
            known = ", ".join(sorted(field_names()))
            raise ValueError(f"unknown field {value!r} (known: {known})")
        return value

    @field_validator("op")
    @classmethod
    def _known_op(cls, value: str) -> str:
        if value not in OPS:
            raise ValueError(f"unknown op {value!r} (one of {', '.join(OPS)})")
        return value

    @model_validator(mode="after")
    def _check(self):
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError(f"op 'in' needs a list value for {self.field}")
        if self.op not in VALUELESS_OPS and self.value is None:
            raise ValueError(f"op {self.op!r} on {self.field} needs a value")
        return self


class Trigger(Strict):
    event: str
    filters: list[Filter] = []
    # One enrolment per what: the event's own subject by default (shipment for shipment events).
    once_per: Literal["subject", "order", "customer"] = "subject"
    # Events about something older than this (a back-fill, an import) do not enrol.
    max_age: str = "7d"
    # product.reorder_due only: days before the typical repurchase date to remind, and the
    # interval to assume when a product has too little repeat history.
    lead_days: int = Field(default=3, ge=0, le=60)
    fallback_days: int = Field(default=30, ge=1, le=730)

    @field_validator("event")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value not in TRIGGER_EVENTS:
            raise ValueError(
                f"unknown trigger event {value!r} (one of {', '.join(TRIGGER_EVENTS)})"
            )
        return value

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str:
        return _check_duration(value)


class ExitRule(Strict):
    event: str | None = None
    new_order: bool = False
    unsubscribed: bool = False

    @model_validator(mode="after")
    def _check(self):
        if not self.event and not self.unsubscribed:
            raise ValueError("an exit needs an event or unsubscribed: true")
        if self.event and self.event not in TRIGGER_EVENTS:
            raise ValueError(f"unknown exit event {self.event!r}")
        if self.new_order and self.event != "order.created":
            raise ValueError("new_order applies to the order.created exit only")
        return self


class StepBase(Strict):
    id: str
    next: str | None = None


class WaitStep(StepBase):
    type: Literal["wait"]
    duration: str | None = None
    until_time: str | None = None
    until_event: str | None = None
    timeout: str | None = None

    @field_validator("duration", "timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else _check_duration(value)

    @field_validator("until_time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 10:00 as the base-60 number 600.
            value = f"{value // 60:02d}:{value % 60:02d}"
        dt.time.fromisoformat(str(value))
        return str(value)

    @field_validator("until_event")
    @classmethod
    def _event(cls, value: str | None) -> str | None:
        if value is not None and value not in TRIGGER_EVENTS:
            raise ValueError(f"unknown event {value!r}")
        return value

    @model_validator(mode="after")
    def _check(self):
        given = [k for k in ("duration", "until_time", "until_event") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a wait needs exactly one of duration, until_time, until_event")
        if self.until_event and not self.timeout:
            raise ValueError("an until_event wait needs a timeout")
        if self.timeout and not self.until_event:
            raise ValueError("timeout applies to until_event waits only")
        return self

    @property
    def at_time(self) -> dt.time:
        return dt.time.fromisoformat(self.until_time or "00:00")


class ConditionStep(StepBase):
    type: Literal["condition"]
    if_: Filter = Field(alias="if")
    then: str | None = None
    else_: str | None = Field(default=None, alias="else")


class Branch(Strict):
    name: str = Field(min_length=1, max_length=60)
    percent: float = Field(gt=0, le=100)
    next: str | None = None
    holdout: bool = False


class RandomSplitStep(StepBase):
    type: Literal["random_split"]
    branches: list[Branch] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self):
        total = sum(b.percent for b in self.branches)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"branch percentages add up to {total:g}, not 100")
        names = [b.name for b in self.branches]
        if len(set(names)) != len(names):
            raise ValueError("branch names must be different")
        return self


class SendStep(StepBase):
    type: Literal["send"]
    kind: str
    channel: Literal["email", "sms"] = "email"

    @model_validator(mode="after")
    def _check(self):
        from aftersale.messaging.kinds import all_kinds

        kinds = {k.code: k for k in all_kinds()}
        if self.kind not in kinds:
            raise ValueError(
                f"unknown message kind {self.kind!r} (one of {', '.join(sorted(kinds))})"
            )
        if self.channel not in kinds[self.kind].channels:
            raise ValueError(f"{self.kind} has no {self.channel} version")
        return self


class TagStep(StepBase):
    type: Literal["tag_customer"]
    tag: str = Field(min_length=1, max_length=60)


class Generate(Strict):
    prefix: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
    percent_off: int = Field(ge=1, le=100)
    expires_in: str | None = None

    @field_validator("expires_in", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else _check_duration(value)


class DiscountStep(StepBase):
    type: Literal["issue_discount"]
    generate: Generate | None = None
    pool: str | None = None

    @model_validator(mode="after")
    def _check(self):
        if (self.generate is None) == (self.pool is None):
            raise ValueError("issue_discount needs either generate or pool")
        return self


class WebhookStep(StepBase):
    type: Literal["webhook"]
    url: str
    max_attempts: int = Field(default=5, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from aftersale.journeys.webhook import check_url

        check_url(value)
        return value


STEP_TYPES: dict[str, type[StepBase]] = {
    "wait": WaitStep,
    "condition": ConditionStep,
    "random_split": RandomSplitStep,
    "send": SendStep,
    "tag_customer": TagStep,
    "issue_discount": DiscountStep,
    "webhook": WebhookStep,
}
Step = WaitStep | ConditionStep | RandomSplitStep | SendStep | TagStep | DiscountStep | WebhookStep


class Definition(Strict):
    trigger: Trigger
    steps: list[Any]
    exit: list[ExitRule] = []

    # parse_definition fills steps with typed steps, in order, and this index by id.
    _by_id: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def typed_steps(self) -> list[Step]:
        return self.steps

    def step(self, step_id: str) -> Step:
        return self._by_id[step_id]

    @property
    def first_step(self) -> str:
        return self.steps[0].id

    def successors(self, step: Step) -> list[str]:
        """Where a step may lead ("end" included), in the order the step chooses."""
        default = self._default_next(step)
        if isinstance(step, ConditionStep):
            return [step.then or default, step.else_ or default]
        if isinstance(step, RandomSplitStep):
            return [END if b.holdout else (b.next or default) for b in step.branches]
        return [step.next or default]

    def _default_next(self, step: Step) -> str:
        index = next(i for i, s in enumerate(self.steps) if s.id == step.id)
        return self.steps[index + 1].id if index + 1 < len(self.steps) else END

    def exits_on(self, event: str) -> list[ExitRule]:
        return [rule for rule in self.exit if rule.event == event]

    @property
    def exits_on_unsubscribe(self) -> bool:
        return any(rule.unsubscribed for rule in self.exit)

    def as_json(self) -> dict:
        data = self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
        data["steps"] = [s.model_dump(by_alias=True, exclude_none=True) for s in self.typed_steps]
        return data


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def load_text(text: str) -> Any:
    """JSON or YAML text to plain data."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError(f"neither JSON nor YAML: {exc}") from None


def parse_definition(source: str | dict) -> Definition:
    """Parse and check a definition; raises DefinitionError naming the step at fault."""
    data = load_text(source) if isinstance(source, str) else source
    if not isinstance(data, dict):
        raise DefinitionError("a definition is a mapping with trigger, steps and exit")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DefinitionError("a flow needs at least one step")
    steps: list[Step] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise DefinitionError(f"step {index + 1} is not a mapping")
        step_id = str(raw.get("id") or "")
        label = step_id or f"#{index + 1}"
        if not STEP_ID.match(step_id):
            raise DefinitionError(
                f"step {label}: id must be lower-case letters, digits, - or _ (at most 60)",
                step=label,
            )
        if step_id == END:
            raise DefinitionError(f"step {label}: 'end' is reserved", step=label)
        if step_id in seen:
            raise DefinitionError(f"step {step_id}: duplicate id", step=step_id)
        seen.add(step_id)
        kind = raw.get("type")
        model = STEP_TYPES.get(kind)  # type: ignore[arg-type]
        if model is None:
            raise DefinitionError(
                f"step {step_id}: unknown step type {kind!r} (one of {', '.join(STEP_TYPES)})",
                step=step_id,
            )
        try:
            steps.append(model.model_validate(raw))
        except ValidationError as exc:
            raise DefinitionError(f"step {step_id}: {_describe(exc)}", step=step_id) from None
        except DomainError as exc:
            raise DefinitionError(f"step {step_id}: {exc.message}", step=step_id) from None
    try:
        definition = Definition.model_validate({**data, "steps": []})
    except ValidationError as exc:
        raise DefinitionError(_describe(exc)) from None
    object.__setattr__(definition, "steps", steps)
    definition._by_id.update({s.id: s for s in steps})
    _check_graph(definition)
    return definition


def _check_graph(definition: Definition) -> None:
    ids = {s.id for s in definition.typed_steps}
    for step in definition.typed_steps:
        for target in _explicit_targets(step):
            if target != END and target not in ids:
                raise DefinitionError(
                    f"step {step.id}: leads to {target!r}, which is not a step of this flow",
                    step=step.id,
                )
    # Cycles: depth-first search with colours.
    colour: dict[str, int] = {}

    def visit(step_id: str, path: list[str]) -> None:
        colour[step_id] = 1
        for target in definition.successors(definition.step(step_id)):
            if target == END:
                continue
            if colour.get(target) == 1:
                loop = " → ".join([*path[path.index(target) :], target])
                raise DefinitionError(f"step {step_id}: makes a loop ({loop})", step=step_id)
            if colour.get(target) is None:
                visit(target, [*path, target])
        colour[step_id] = 2

    visit(definition.first_step, [definition.first_step])
    unreachable = [s.id for s in definition.typed_steps if s.id not in colour]
    if unreachable:
        first = unreachable[0]
        raise DefinitionError(
            f"step {first}: can never be reached (no step leads to it)"
            + (f"; nor can {', '.join(unreachable[1:])}" if len(unreachable) > 1 else ""),
            step=first,
        )


def _explicit_targets(step: Step) -> Iterable[str]:
    if step.next:
        yield step.next
    if isinstance(step, ConditionStep):
        yield from (t for t in (step.then, step.else_) if t)
    if isinstance(step, RandomSplitStep):
        yield from (b.next for b in step.branches if b.next)
