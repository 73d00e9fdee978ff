"""What filters and conditions can ask about a shopper, and how they compare.

Fields are a registry: `register_field("customer.has_open_return")(fn)`. Apps that journeys may
import (returns, feedback, loyalty …) can contribute fields without importing journeys, by
exposing `JOURNEY_FIELDS = {"customer.has_open_return": fn}` in their selectors module; journeys
picks those up when it starts (see discover_fields); the same module may expose
`JOURNEY_TRIGGERS = {"return.closed": "…"}` (see definition.discover_triggers). A field
function receives the Facts of one enrolment at one moment — `facts.now` is the virtual clock
in a simulation — and must only read.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.db.models import Q

from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment

logger = logging.getLogger(__name__)

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "is_true", "is_false")
VALUELESS_OPS = ("is_true", "is_false")


@dataclass
class Facts:
    """One enrolment (or would-be enrolment) at one moment; fields cache what they load here."""

    store: Store
    now: dt.datetime
    order: Order | None = None
    customer: Customer | None = None
    shipment: Shipment | None = None
    enrolled_at: dt.datetime | None = None
    cache: dict[str, Any] = field(default_factory=dict)


FieldFn = Callable[[Facts], Any]
_fields: dict[str, FieldFn] = {}


def register_field(name: str) -> Callable[[FieldFn], FieldFn]:
    def add(fn: FieldFn) -> FieldFn:
        _fields[name] = fn
        return fn

    return add


def field_names() -> set[str]:
    return set(_fields)


def field_value(name: str, facts: Facts) -> Any:
    return _fields[name](facts)


def app_selectors():
    """The selectors modules of the other installed aftersale apps (they may extend journeys)."""
    for config in apps.get_app_configs():
        if not config.name.startswith("aftersale.") or config.name == "aftersale.journeys":
            continue
        try:
            yield importlib.import_module(f"{config.name}.selectors")
        except ModuleNotFoundError:
            continue


def discover_fields() -> int:
    """Register the JOURNEY_FIELDS that installed aftersale apps expose in their selectors."""
    found = 0
    for module in app_selectors():
        for name, fn in (getattr(module, "JOURNEY_FIELDS", None) or {}).items():
            register_field(name)(fn)
            found += 1
    return found


# -- comparing ------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _norm(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no"}:
        return value.strip().lower() in {"true", "yes"}
    return value


def compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "is_true":
        return bool(actual)
    if op == "is_false":
        return not actual
    if op == "contains":
        if isinstance(actual, list | tuple | set | frozenset):
            return _norm(expected) in {_norm(a) for a in actual}
        if isinstance(actual, str):
            return str(expected).lower() in actual.lower()
        return False
    if op == "in":
        options = expected if isinstance(expected, list) else [expected]
        return any(compare(actual, "eq", option) for option in options)
    if isinstance(actual, bool):
        expected = _bool(expected)
    a_num, e_num = _number(actual), _number(expected)
    if a_num is not None and e_num is not None:
        a, e = a_num, e_num
    else:
        a, e = _norm(actual), _norm(expected)
    if op == "eq":
        return a == e
    if op == "ne":
        return a != e
    if a is None or e is None:
        return False
    try:
        if op == "gt":
            return a > e
        if op == "gte":
            return a >= e
        if op == "lt":
            return a < e
        if op == "lte":
            return a <= e
    except TypeError:
        return False
    raise ValueError(f"unknown op {op!r}")


def matches(filters, facts: Facts) -> tuple[bool, str]:
    """(all filters hold, the first one that does not — for the log)."""
    for flt in filters:
        actual = field_value(flt.field, facts)
        if not compare(actual, flt.op, flt.value):
            return False, f"{flt.field} {flt.op} {flt.value!r} is false (it is {actual!r})"
    return True, ""


# -- the fields -----------------------------------------------------------------------------


def _orders_of(facts: Facts):
    if facts.customer is None:
        return Order.objects.none()
    return Order.objects.filter(store=facts.store, customer=facts.customer).exclude(
        status=Order.Status.CANCELLED
    )


@register_field("order.total")
def _order_total(facts: Facts):
    return facts.order.total if facts.order else None


@register_field("order.currency")
def _order_currency(facts: Facts):
    return facts.order.currency if facts.order else None


@register_field("order.channel")
def _order_channel(facts: Facts):
    return facts.order.channel if facts.order else None


@register_field("order.status")
def _order_status(facts: Facts):
    return facts.order.status if facts.order else None


@register_field("order.tags")
def _order_tags(facts: Facts):
    return list(facts.order.tags or []) if facts.order else []


@register_field("order.country")
def _order_country(facts: Facts):
    address = facts.order.shipping_address if facts.order else None
    return address.country if address else None


@register_field("order.line_tags")
def _order_line_tags(facts: Facts):
    if facts.order is None:
        return []
    if "line_tags" not in facts.cache:
        tags: set[str] = set()
        for line in facts.order.lines.select_related("product"):
            if line.product is not None:
                tags.update(line.product.tags or [])
        facts.cache["line_tags"] = sorted(tags)
    return facts.cache["line_tags"]


register_field("order.product_tags")(_order_line_tags)


@register_field("order.skus")
def _order_skus(facts: Facts):
    if facts.order is None:
        return []
    return sorted({sku for sku in facts.order.lines.values_list("sku", flat=True) if sku})


@register_field("customer.order_count")
def _customer_order_count(facts: Facts):
    """Orders up to the enrolment's order (or up to now when there is none)."""
    if facts.customer is None:
        return 1 if facts.order else 0
    key = "order_count"
    if key not in facts.cache:
        until = facts.order.placed_at if facts.order else facts.now
        facts.cache[key] = _orders_of(facts).filter(placed_at__lte=until).count()
    return facts.cache[key]


@register_field("customer.is_repeat")
def _customer_is_repeat(facts: Facts):
    return _customer_order_count(facts) > 1


@register_field("customer.tags")
def _customer_tags(facts: Facts):
    return list(facts.customer.tags or []) if facts.customer else []


@register_field("customer.accepts_marketing")
def _customer_accepts_marketing(facts: Facts):
    return bool(facts.customer and facts.customer.accepts_marketing)


@register_field("customer.ordered_again")
def _customer_ordered_again(facts: Facts):
    """An order placed after the enrolment began (and by the moment of asking)."""
    since = facts.enrolled_at or (facts.order.placed_at if facts.order else None)
    if since is None or facts.customer is None:
        return False
    later = _orders_of(facts).filter(placed_at__gt=since, placed_at__lte=facts.now)
    if facts.order is not None:
        later = later.filter(~Q(pk=facts.order.pk))
    return later.exists()


# Until the returns and feedback apps exist (and register theirs), nobody has either.
@register_field("customer.has_open_return")
def _customer_has_open_return(facts: Facts):
    return False


@register_field("customer.has_left_review")
def _customer_has_left_review(facts: Facts):
    return False


# -- the parcel (enrolments about a shipment; loaded fresh when a step runs) ------------------


@register_field("shipment.status")
def _shipment_status(facts: Facts):
    """The canonical status code: in_transit, out_for_delivery, delivered …"""
    return facts.shipment.status if facts.shipment else None


@register_field("shipment.delivered")
def _shipment_delivered(facts: Facts):
    shipment = facts.shipment
    return bool(shipment and (shipment.delivered_at or shipment.status == "delivered"))


@register_field("shipment.carrier")
def _shipment_carrier(facts: Facts):
    """The carrier's code as aftersale knows it (ups, dhl_paket, correios …), else its name."""
    if facts.shipment is None:
        return None
    return facts.shipment.carrier_code or facts.shipment.carrier
