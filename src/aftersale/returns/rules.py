"""Return rules: validated data in, a decision per line out, with no database access.

A store's rule set is `{"defaults": {actions}, "rules": [rule, …], "fraud": {…}}`. Each rule has
conditions (all must hold) and actions. Evaluating a line starts from the defaults and applies the
actions of every matching rule in order (a later rule overrides an earlier one; `stop` ends the
walk). Then the return window is checked. The caller prepares the facts once (OrderFacts,
LineFacts); `compile_rules` turns the conditions into plain predicates, so one evaluation is a few
attribute reads and comparisons per rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aftersale.core.services import DomainError

OutcomeCode = Literal["refund", "store_credit", "exchange_same", "exchange_other", "keep_item"]
OUTCOMES: tuple[str, ...] = (
    "refund",
    "store_credit",
    "exchange_same",
    "exchange_other",
    "keep_item",
)
ShippingMethodCode = Literal["prepaid_label", "drop_off", "in_store"]
SHIPPING_METHODS: tuple[str, ...] = ("prepaid_label", "drop_off", "in_store")
RefundTimingCode = Literal["instant", "on_receipt", "after_inspection"]
TIMING_ORDER = {"instant": 0, "on_receipt": 1, "after_inspection": 2}

# field → (kind, where it is read: "order" | "line" | "reason")
FIELDS: dict[str, tuple[str, str]] = {
    "days_since_delivery": ("number", "order"),  # since the order when not delivered
    "delivered": ("bool", "order"),
    "order_total": ("number", "order"),
    "discount_used": ("bool", "order"),
    "customer_return_count": ("number", "order"),
    "customer_return_rate": ("number", "order"),  # 0..1: returns / orders
    "customer_tags": ("set", "order"),
    "order_tags": ("set", "order"),
    "country": ("string", "order"),
    "channel": ("string", "order"),
    "gift": ("bool", "order"),
    "product": ("string", "line"),  # prd_…
    "sku": ("string", "line"),
    "category": ("string", "line"),
    "tag": ("set", "line"),  # the product's tags
    "final_sale": ("bool", "line"),
    "price": ("number", "line"),  # what one unit was paid
    "reason": ("string", "reason"),  # the reason code the shopper picked (a leaf)
    "reason_group": ("string", "reason"),  # its parent's code (or itself at the top)
}
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    "bool": ("is_true", "is_false"),
    "string": ("eq", "ne", "in", "not_in"),
    "set": ("contains", "not_contains", "any_of", "none_of"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=2)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]


class ConditionIn(_Strict):
    field: str
    op: str
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIELDS:
            raise ValueError(f"unknown field {value!r}; one of {', '.join(FIELDS)}")
        return value

    @model_validator(mode="after")
    def _op_and_value(self) -> ConditionIn:
        kind = FIELDS[self.field][0]
        ops = OPS_BY_KIND[kind]
        if self.op not in ops:
            raise ValueError(f"op {self.op!r} does not apply to {self.field}; one of {ops}")
        self.value = _clean_value(self.field, kind, self.op, self.value)
        return self


def _clean_value(name: str, kind: str, op: str, value: Any) -> Any:
    if kind == "bool":
        if value not in (None, True, False):
            raise ValueError(f"{name} {op} takes no value")
        return None
    if kind == "number":
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError(f"{name} between needs [low, high]")
            low, high = (_decimal(name, v) for v in value)
            if low > high:
                raise ValueError(f"{name} between: low is above high")
            return [low, high]
        return _decimal(name, value)
    if op in ("in", "not_in", "any_of", "none_of"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} {op} needs a non-empty list of strings")
        return [v.strip().lower() for v in value]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} {op} needs a text value")
    return value.strip().lower()


def _decimal(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{name} needs a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{name} needs a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} needs a number")
    return number


class ActionsIn(_Strict):
    """What a matching rule changes; a field left out keeps what earlier rules or defaults said."""

    allow: bool | None = None
    deny_message: str | None = Field(None, max_length=500)
    window_days: int | None = Field(None, ge=0, le=3650)
    outcomes: list[OutcomeCode] | None = None  # exactly these
    allow_outcomes: list[OutcomeCode] = Field(default_factory=list)  # add these
    hide_outcomes: list[OutcomeCode] = Field(default_factory=list)  # remove these
    credit_bonus_percent: Percent | None = None
    exchange_bonus_percent: Percent | None = None
    return_fee: Amount | None = None  # per return, in the store's currency
    restocking_fee_percent: Percent | None = None
    waive_fees_for_exchange: bool | None = None
    waive_fees_for_credit: bool | None = None
    require_photos: bool | None = None
    review: Literal["auto_approve", "review"] | None = None
    keep_item: bool | None = None  # shorthand: allow (true) or hide (false) "keep_item"
    fraud_review: bool | None = None
    refund_timing: RefundTimingCode | None = None
    ship_exchange_first: bool | None = None
    shipping_methods: list[ShippingMethodCode] | None = None


class RuleIn(_Strict):
    id: str = Field(..., min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(..., min_length=1, max_length=200)
    enabled: bool = True
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=50)
    actions: ActionsIn
    stop: bool = False


class FraudSettingsIn(_Strict):
    serial_returner_count: int = Field(5, ge=1, le=1000)  # returns in the last 365 days
    high_return_rate: Decimal = Field(Decimal("0.5"), ge=0, le=1)  # with ≥ 3 orders
    high_value_amount: Amount = Decimal("300")
    wardrobing_reasons: list[str] = Field(
        default_factory=lambda: ["changed_mind", "no_longer_needed"]
    )
    wardrobing_last_days: int = Field(3, ge=0, le=365)  # the last N days of the window


class RuleSetIn(_Strict):
    defaults: ActionsIn = Field(default_factory=ActionsIn)
    rules: list[RuleIn] = Field(default_factory=list, max_length=500)
    fraud: FraudSettingsIn = Field(default_factory=FraudSettingsIn)
    upcharge_payment_url: str = Field("", max_length=500)
    # Store credit from returns expires this many days after it is issued (null: never).
    credit_expiry_days: int | None = Field(None, ge=1, le=3650)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSetIn:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rules.{index}.id: {rule.id!r} is used twice")
            seen.add(rule.id)
        return self

    @field_validator("upcharge_payment_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


BUILTIN_DEFAULTS: dict[str, Any] = {
    "allow": True,
    "deny_message": "",
    "window_days": 30,
    "outcomes": ["refund", "store_credit", "exchange_same", "exchange_other"],
    "credit_bonus_percent": Decimal("0"),
    "exchange_bonus_percent": Decimal("0"),
    "return_fee": Decimal("0"),
    "restocking_fee_percent": Decimal("0"),
    "waive_fees_for_exchange": True,
    "waive_fees_for_credit": False,
    "require_photos": False,
    "review": "auto_approve",
    "fraud_review": False,
    "refund_timing": "on_receipt",
    "ship_exchange_first": False,
    "shipping_methods": list(SHIPPING_METHODS),
}

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "id": "final-sale",
        "name": "Final-sale items cannot be returned",
        "conditions": [{"field": "final_sale", "op": "is_true"}],
        "actions": {
            "allow": False,
            "deny_message": "This item was sold as final sale and cannot be returned.",
        },
        "stop": True,
    },
    {
        "id": "damaged-photos",
        "name": "Damaged or wrong items: photos, no fees, refund on the first scan",
        "conditions": [{"field": "reason_group", "op": "in", "value": ["damaged", "wrong_item"]}],
        "actions": {
            "require_photos": True,
            "return_fee": "0",
            "restocking_fee_percent": "0",
            "refund_timing": "instant",
        },
    },
    {
        "id": "credit-bonus",
        "name": "10% bonus when the shopper takes store credit",
        "conditions": [],
        "actions": {"credit_bonus_percent": "10"},
    },
    {
        "id": "low-value-keep",
        "name": "Items under 10 are not worth shipping back: keep them",
        "conditions": [{"field": "price", "op": "lt", "value": "10"}],
        "actions": {"keep_item": True},
    },
    {
        "id": "high-value-review",
        "name": "Orders over 500 are reviewed by staff",
        "conditions": [{"field": "order_total", "op": "gt", "value": "500"}],
        "actions": {"review": "review"},
    },
    {
        "id": "serial-returner",
        "name": "Frequent returners are reviewed and inspected before the refund",
        "conditions": [
            {"field": "customer_return_count", "op": "gte", "value": 5},
            {"field": "customer_return_rate", "op": "gte", "value": "0.5"},
        ],
        "actions": {
            "review": "review",
            "fraud_review": True,
            "refund_timing": "after_inspection",
            "hide_outcomes": ["keep_item"],
        },
    },
    {
        "id": "vip-exchange-first",
        "name": "VIP customers get their exchange shipped before the return arrives",
        "conditions": [{"field": "customer_tags", "op": "contains", "value": "vip"}],
        "actions": {"ship_exchange_first": True, "window_days": 60},
    },
]

DEFAULT_DEFINITION: dict[str, Any] = {"defaults": {}, "rules": DEFAULT_RULES}


def validate_definition(data: Any) -> RuleSetIn:
    """The rule set, or DomainError naming the first bad field ("rules.2.conditions.0.op")."""
    try:
        return RuleSetIn.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        # "rules.2.id: …" raised by a model validator already names its own field.
        if not where and ":" in message:
            where, _, message = message.partition(": ")
        raise DomainError(
            f"{where}: {message}" if where else message, field=where or "rules"
        ) from None


def dump_definition(ruleset: RuleSetIn) -> dict:
    """JSON-ready (decimals as strings), without the fields left at their defaults."""
    return ruleset.model_dump(mode="json", exclude_defaults=True)


# -- facts -----------------------------------------------------------------------------------


@dataclass(slots=True)
class OrderFacts:
    days_since_delivery: int
    delivered: bool
    order_total: Decimal
    discount_used: bool
    customer_return_count: int
    customer_return_rate: Decimal
    customer_tags: frozenset[str]
    order_tags: frozenset[str]
    country: str
    channel: str
    gift: bool = False


@dataclass(slots=True)
class LineFacts:
    product: str
    sku: str
    category: str
    tag: frozenset[str]
    final_sale: bool
    price: Decimal


@dataclass(slots=True)
class ReasonFacts:
    reason: str
    reason_group: str


NO_REASON = None


# -- compiling -------------------------------------------------------------------------------


_OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_SOURCES = {"order": "o", "line": "l", "reason": "r"}


def _condition_source(cond: ConditionIn, slot: str) -> str:
    """Python source for one condition. Only whitelisted names appear in it (FIELDS keys, fixed
    operators); the rule's own values are bound as `slot` in the function's namespace."""
    kind, where = FIELDS[cond.field]
    get = f"{_SOURCES[where]}.{cond.field}"
    op = cond.op
    if kind == "bool":
        return get if op == "is_true" else f"not {get}"
    if kind == "number":
        if op == "between":
            return f"{slot}[0] <= {get} <= {slot}[1]"
        return f"{get} {_OPERATORS[op]} {slot}"
    if kind == "string":
        text = f"({get} or '').lower()"
        return {
            "eq": f"{text} == {slot}",
            "ne": f"{text} != {slot}",
            "in": f"{text} in {slot}",
            "not_in": f"{text} not in {slot}",
        }[op]
    return {
        "contains": f"{slot} in {get}",
        "not_contains": f"{slot} not in {get}",
        "any_of": f"not {slot}.isdisjoint({get})",
        "none_of": f"{slot}.isdisjoint({get})",
    }[op]


def _conjunction(conditions: list[ConditionIn], prefix: str, namespace: dict) -> str | None:
    """The conditions as one `and` expression; their values go into `namespace`."""
    parts = []
    for index, cond in enumerate(conditions):
        slot = f"{prefix}_{index}"
        value = cond.value
        if isinstance(value, list) and cond.op != "between":
            value = frozenset(value)
        namespace[slot] = value
        parts.append(f"({_condition_source(cond, slot)})")
    return " and ".join(parts) or None


def _build_matchers(rules: list[RuleIn]) -> tuple[Callable, Callable]:
    """Two generated functions for the whole rule set:

    order_pass(o) -> tuple of bools: each rule's order conditions (once per order);
    match(o, l, r, p) -> [rule indexes]: the rules whose line and reason conditions hold, among
    those whose order conditions passed (p). Straight-line code, one call per line, instead of a
    Python-level loop over rules and conditions. Built only from validated field names and fixed
    operators; the rules' values are bound in the namespace, never written into the source.
    """
    namespace: dict[str, Any] = {}
    order_parts = []
    lines = ["def match(o, l, r, p):", "    m = []", "    a = m.append"]
    for index, rule in enumerate(rules):
        order_expr = _conjunction(
            [c for c in rule.conditions if FIELDS[c.field][1] == "order"], f"o{index}", namespace
        )
        line_expr = _conjunction(
            [c for c in rule.conditions if FIELDS[c.field][1] != "order"], f"l{index}", namespace
        )
        order_parts.append(f"({order_expr})" if order_expr else "True")
        guard = f"p[{index}]"
        if any(FIELDS[c.field][1] == "reason" for c in rule.conditions):
            guard = f"r is not None and {guard}"
        test = f"{guard} and ({line_expr})" if line_expr else guard
        lines.append(f"    if {test}: a({index})")
    lines.append("    return m")
    order_source = f"lambda o: ({', '.join(order_parts)}{',' if order_parts else ''})"
    scope = {"__builtins__": {}, **namespace}
    order_fn = eval(order_source, scope)  # noqa: S307  (see the docstring)
    exec("\n".join(lines), scope)  # noqa: S102  (see the docstring)
    return order_fn, scope["match"]


_SCALAR_ACTIONS = (
    "allow",
    "deny_message",
    "window_days",
    "credit_bonus_percent",
    "exchange_bonus_percent",
    "return_fee",
    "restocking_fee_percent",
    "waive_fees_for_exchange",
    "waive_fees_for_credit",
    "require_photos",
    "review",
    "fraud_review",
    "refund_timing",
    "ship_exchange_first",
    "shipping_methods",
)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    name: str
    uses_reason: bool
    sets: tuple[tuple[str, Any], ...]
    outcomes: frozenset[str] | None
    add_outcomes: frozenset[str]
    hide_outcomes: frozenset[str]
    stop: bool


@dataclass(frozen=True, slots=True)
class CompiledRules:
    defaults: dict[str, Any]
    rules: tuple[CompiledRule, ...]
    fraud: FraudSettingsIn
    upcharge_payment_url: str
    credit_expiry_days: int | None = None
    # The condition fields the enabled rules read: a bulk caller loads only these.
    fields_used: frozenset[str] = frozenset()
    order_pass: Callable[[OrderFacts], tuple[bool, ...]] = field(default=lambda _o: ())
    match: Callable[..., list[int]] = field(default=lambda *_args: [])


def _action_pairs(actions: ActionsIn) -> tuple[tuple[tuple[str, Any], ...], set, set, set | None]:
    sets = []
    for name in _SCALAR_ACTIONS:
        value = getattr(actions, name)
        if value is not None:
            sets.append((name, tuple(value) if isinstance(value, list) else value))
    add = set(actions.allow_outcomes)
    hide = set(actions.hide_outcomes)
    if actions.keep_item is True:
        add.add("keep_item")
    elif actions.keep_item is False:
        hide.add("keep_item")
    exact = set(actions.outcomes) if actions.outcomes is not None else None
    return tuple(sets), add, hide, exact


def compile_rules(ruleset: RuleSetIn) -> CompiledRules:
    defaults = dict(BUILTIN_DEFAULTS)
    sets, add, hide, exact = _action_pairs(ruleset.defaults)
    defaults.update(dict(sets))
    outcomes = set(exact if exact is not None else defaults["outcomes"])
    defaults["outcomes"] = frozenset((outcomes | add) - hide)
    defaults["shipping_methods"] = tuple(defaults["shipping_methods"])
    compiled = []
    enabled = [rule for rule in ruleset.rules if rule.enabled]
    order_fn, match_fn = _build_matchers(enabled)
    for rule in enabled:
        sets, add, hide, exact = _action_pairs(rule.actions)
        compiled.append(
            CompiledRule(
                id=rule.id,
                name=rule.name,
                uses_reason=any(FIELDS[c.field][1] == "reason" for c in rule.conditions),
                sets=sets,
                outcomes=frozenset(exact) if exact is not None else None,
                add_outcomes=frozenset(add),
                hide_outcomes=frozenset(hide),
                stop=rule.stop,
            )
        )
    return CompiledRules(
        defaults=defaults,
        rules=tuple(compiled),
        fraud=ruleset.fraud,
        upcharge_payment_url=ruleset.upcharge_payment_url,
        credit_expiry_days=ruleset.credit_expiry_days,
        fields_used=frozenset(c.field for rule in enabled for c in rule.conditions),
        order_pass=order_fn,
        match=match_fn,
    )


# -- evaluating ------------------------------------------------------------------------------


@dataclass(slots=True)
class Decision:
    """What the rules say about returning one line (for one reason, or none chosen yet)."""

    allowed: bool
    deny_message: str
    window_days: int
    window_closed: bool
    outcomes: frozenset[str]
    credit_bonus_percent: Decimal
    exchange_bonus_percent: Decimal
    return_fee: Decimal
    restocking_fee_percent: Decimal
    waive_fees_for_exchange: bool
    waive_fees_for_credit: bool
    require_photos: bool
    review: str
    fraud_review: bool
    refund_timing: str
    ship_exchange_first: bool
    shipping_methods: tuple[str, ...]
    matched: list[str] = field(default_factory=list)


WINDOW_CLOSED_MESSAGE = "The return window of {days} days for this item has closed."


def order_pass(compiled: CompiledRules, order: OrderFacts) -> tuple[bool, ...]:
    """Which rules' order conditions hold for this order: work once per order, to pass to every
    evaluate() of its lines."""
    return compiled.order_pass(order)


def evaluate(
    compiled: CompiledRules,
    order: OrderFacts,
    line: LineFacts,
    reason: ReasonFacts | None = NO_REASON,
    passed: tuple[bool, ...] | None = None,
) -> Decision:
    """The decision for one line (and reason, once chosen). `passed` is order_pass(compiled,
    order) when the caller evaluates several lines of one order."""
    state = dict(compiled.defaults)
    outcomes = set(state["outcomes"])
    matched: list[str] = []
    if passed is None:
        passed = compiled.order_pass(order)
    rules = compiled.rules
    for index in compiled.match(order, line, reason, passed):
        rule = rules[index]
        matched.append(rule.id)
        for name, value in rule.sets:
            state[name] = value
        if rule.outcomes is not None:
            outcomes = set(rule.outcomes)
        if rule.add_outcomes:
            outcomes |= rule.add_outcomes
        if rule.hide_outcomes:
            outcomes -= rule.hide_outcomes
        if rule.stop:
            break
    allowed = bool(state["allow"])
    message = state["deny_message"] if not allowed else ""
    window_closed = order.days_since_delivery > state["window_days"]
    if allowed and window_closed:
        allowed = False
        message = WINDOW_CLOSED_MESSAGE.format(days=state["window_days"])
    if order.gift:
        outcomes &= {"store_credit"}
    if allowed and not outcomes:
        allowed = False
        message = "No return option is available for this item."
    if not allowed and not message:
        message = "This item cannot be returned."
    return Decision(
        allowed=allowed,
        deny_message=message,
        window_days=state["window_days"],
        window_closed=window_closed,
        outcomes=frozenset(outcomes),
        credit_bonus_percent=Decimal(state["credit_bonus_percent"]),
        exchange_bonus_percent=Decimal(state["exchange_bonus_percent"]),
        return_fee=Decimal(state["return_fee"]),
        restocking_fee_percent=Decimal(state["restocking_fee_percent"]),
        waive_fees_for_exchange=state["waive_fees_for_exchange"],
        waive_fees_for_credit=state["waive_fees_for_credit"],
        require_photos=state["require_photos"],
        review=state["review"],
        fraud_review=state["fraud_review"],
        refund_timing=state["refund_timing"],
        ship_exchange_first=state["ship_exchange_first"],
        shipping_methods=tuple(state["shipping_methods"]),
        matched=matched,
    )
