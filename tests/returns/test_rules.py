"""The rule engine: validation names the bad field; each condition and action does what it says."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aftersale.core.services import DomainError
from aftersale.returns.rules import (
    DEFAULT_DEFINITION,
    LineFacts,
    OrderFacts,
    ReasonFacts,
    compile_rules,
    evaluate,
    validate_definition,
)


def order_facts(**extra) -> OrderFacts:
    values = {
        "days_since_delivery": 5,
        "delivered": True,
        "order_total": Decimal("150"),
        "discount_used": False,
        "customer_return_count": 0,
        "customer_return_rate": Decimal("0"),
        "customer_tags": frozenset(),
        "order_tags": frozenset(),
        "country": "DE",
        "channel": "online",
        "gift": False,
    }
    values.update(extra)
    return OrderFacts(**values)


def line_facts(**extra) -> LineFacts:
    values = {
        "product": "prd_jacket",
        "sku": "JK-M",
        "category": "jackets",
        "tag": frozenset({"outdoor"}),
        "final_sale": False,
        "price": Decimal("120"),
    }
    values.update(extra)
    return LineFacts(**values)


def decide(conditions, actions, order=None, line=None, reason=None, defaults=None):
    ruleset = validate_definition(
        {
            "defaults": defaults or {},
            "rules": [{"id": "r", "name": "r", "conditions": conditions, "actions": actions}],
        }
    )
    return evaluate(compile_rules(ruleset), order or order_facts(), line or line_facts(), reason)


DENY = {"allow": False, "deny_message": "no"}


@pytest.mark.parametrize(
    ("condition", "order", "line", "reason", "matches"),
    [
        ({"field": "days_since_delivery", "op": "gt", "value": 4}, {}, {}, None, True),
        ({"field": "days_since_delivery", "op": "gt", "value": 5}, {}, {}, None, False),
        ({"field": "days_since_delivery", "op": "between", "value": [3, 5]}, {}, {}, None, True),
        ({"field": "delivered", "op": "is_false"}, {"delivered": False}, {}, None, True),
        ({"field": "product", "op": "in", "value": ["prd_jacket", "prd_x"]}, {}, {}, None, True),
        ({"field": "product", "op": "eq", "value": "prd_other"}, {}, {}, None, False),
        ({"field": "sku", "op": "eq", "value": "jk-m"}, {}, {}, None, True),
        ({"field": "category", "op": "eq", "value": "Jackets"}, {}, {}, None, True),
        ({"field": "category", "op": "not_in", "value": ["jackets"]}, {}, {}, None, False),
        ({"field": "tag", "op": "contains", "value": "Outdoor"}, {}, {}, None, True),
        ({"field": "tag", "op": "none_of", "value": ["outdoor"]}, {}, {}, None, False),
        ({"field": "final_sale", "op": "is_true"}, {}, {"final_sale": True}, None, True),
        ({"field": "final_sale", "op": "is_true"}, {}, {}, None, False),
        ({"field": "price", "op": "lt", "value": "120.01"}, {}, {}, None, True),
        ({"field": "price", "op": "gte", "value": 121}, {}, {}, None, False),
        ({"field": "order_total", "op": "gt", "value": 100}, {}, {}, None, True),
        ({"field": "discount_used", "op": "is_true"}, {"discount_used": True}, {}, None, True),
        (
            {"field": "customer_return_count", "op": "gte", "value": 3},
            {"customer_return_count": 3},
            {},
            None,
            True,
        ),
        (
            {"field": "customer_return_rate", "op": "gt", "value": "0.5"},
            {"customer_return_rate": Decimal("0.6")},
            {},
            None,
            True,
        ),
        (
            {"field": "customer_tags", "op": "any_of", "value": ["vip", "staff"]},
            {"customer_tags": frozenset({"vip"})},
            {},
            None,
            True,
        ),
        ({"field": "order_tags", "op": "not_contains", "value": "wholesale"}, {}, {}, None, True),
        ({"field": "country", "op": "in", "value": ["de", "at"]}, {}, {}, None, True),
        ({"field": "country", "op": "ne", "value": "de"}, {}, {}, None, False),
        ({"field": "channel", "op": "eq", "value": "in_store"}, {}, {}, None, False),
        ({"field": "gift", "op": "is_true"}, {"gift": True}, {}, None, True),
        (
            {"field": "reason", "op": "eq", "value": "too_small"},
            {},
            {},
            ReasonFacts("too_small", "fit"),
            True,
        ),
        (
            {"field": "reason_group", "op": "eq", "value": "fit"},
            {},
            {},
            ReasonFacts("too_large", "fit"),
            True,
        ),
        # Before the shopper picks a reason, a reason condition never holds.
        ({"field": "reason", "op": "ne", "value": "too_small"}, {}, {}, None, False),
    ],
)
def test_each_condition(condition, order, line, reason, matches):
    decision = decide([condition], DENY, order_facts(**order), line_facts(**line), reason)
    assert (decision.matched == ["r"]) is matches
    assert decision.allowed is not matches


def test_all_conditions_must_hold():
    conditions = [
        {"field": "category", "op": "eq", "value": "jackets"},
        {"field": "price", "op": "gt", "value": 500},
    ]
    assert decide(conditions, DENY).allowed is True


def test_actions_apply_in_order_and_stop_ends_the_walk():
    ruleset = validate_definition(
        {
            "rules": [
                {"id": "a", "name": "a", "actions": {"window_days": 60, "credit_bonus_percent": 5}},
                {"id": "b", "name": "b", "actions": {"window_days": 90}, "stop": True},
                {"id": "c", "name": "c", "actions": {"window_days": 7}},
            ]
        }
    )
    decision = evaluate(compile_rules(ruleset), order_facts(), line_facts())
    assert (decision.window_days, decision.credit_bonus_percent, decision.matched) == (
        90,
        Decimal("5"),
        ["a", "b"],
    )


def test_disabled_rules_are_skipped():
    ruleset = validate_definition(
        {"rules": [{"id": "a", "name": "a", "enabled": False, "actions": DENY}]}
    )
    assert evaluate(compile_rules(ruleset), order_facts(), line_facts()).allowed is True


def test_every_action():
    decision = decide(
        [],
        {
            "window_days": 45,
            "outcomes": ["refund", "exchange_same"],
            "allow_outcomes": ["store_credit"],
            "hide_outcomes": ["refund"],
            "keep_item": True,
            "credit_bonus_percent": "12.5",
            "exchange_bonus_percent": "5",
            "return_fee": "4.95",
            "restocking_fee_percent": "15",
            "waive_fees_for_exchange": False,
            "waive_fees_for_credit": True,
            "require_photos": True,
            "review": "review",
            "fraud_review": True,
            "refund_timing": "after_inspection",
            "ship_exchange_first": True,
            "shipping_methods": ["in_store"],
        },
    )
    assert decision.allowed is True
    assert decision.window_days == 45
    assert decision.outcomes == {"exchange_same", "store_credit", "keep_item"}
    assert (decision.credit_bonus_percent, decision.exchange_bonus_percent) == (
        Decimal("12.5"),
        Decimal("5"),
    )
    assert (decision.return_fee, decision.restocking_fee_percent) == (
        Decimal("4.95"),
        Decimal("15"),
    )
    assert (decision.waive_fees_for_exchange, decision.waive_fees_for_credit) == (False, True)
    assert (decision.require_photos, decision.review, decision.fraud_review) == (
        True,
        "review",
        True,
    )
    assert (decision.refund_timing, decision.ship_exchange_first) == ("after_inspection", True)
    assert decision.shipping_methods == ("in_store",)


def test_deny_with_a_message_and_the_window():
    denied = decide([], {"allow": False, "deny_message": "Swimwear is final"})
    closed = decide([], {"window_days": 4})
    no_outcome = decide([], {"outcomes": []})
    assert (denied.allowed, denied.deny_message) == (False, "Swimwear is final")
    assert (closed.allowed, closed.window_closed, closed.deny_message) == (
        False,
        True,
        "The return window of 4 days for this item has closed.",
    )
    assert (no_outcome.allowed, no_outcome.deny_message) == (
        False,
        "No return option is available for this item.",
    )


def test_keep_item_false_hides_it_and_gifts_get_credit_only():
    hidden = decide([], {"keep_item": False}, defaults={"outcomes": ["refund", "keep_item"]})
    gift = decide([], {}, order=order_facts(gift=True))
    assert hidden.outcomes == {"refund"}
    assert gift.outcomes == {"store_credit"}


def test_default_rules_for_a_new_store():
    compiled = compile_rules(validate_definition(DEFAULT_DEFINITION))

    normal = evaluate(compiled, order_facts(), line_facts())
    final = evaluate(compiled, order_facts(), line_facts(final_sale=True))
    late = evaluate(compiled, order_facts(days_since_delivery=31), line_facts())
    cheap = evaluate(compiled, order_facts(), line_facts(price=Decimal("9.99")))
    damaged = evaluate(compiled, order_facts(), line_facts(), ReasonFacts("damaged", "damaged"))
    serial = evaluate(
        compiled,
        order_facts(customer_return_count=5, customer_return_rate=Decimal("0.6")),
        line_facts(price=Decimal("5")),
    )
    vip = evaluate(
        compiled,
        order_facts(customer_tags=frozenset({"vip"}), days_since_delivery=45),
        line_facts(),
    )

    assert (normal.allowed, normal.window_days, normal.credit_bonus_percent) == (
        True,
        30,
        Decimal("10"),
    )
    assert normal.outcomes == {"refund", "store_credit", "exchange_same", "exchange_other"}
    assert (final.allowed, final.matched) == (False, ["final-sale"])
    assert late.allowed is False
    assert "keep_item" in cheap.outcomes
    assert (damaged.require_photos, damaged.refund_timing) == (True, "instant")
    assert (serial.review, serial.fraud_review, serial.refund_timing) == (
        "review",
        True,
        "after_inspection",
    )
    assert "keep_item" not in serial.outcomes
    assert (vip.allowed, vip.ship_exchange_first, vip.window_days) == (True, True, 60)


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        (
            {"rules": [{"id": "a", "name": "a", "actions": {}, "colour": 1}]},
            "rules.0.colour",
            "Extra inputs are not permitted",
        ),
        (
            {
                "rules": [
                    {
                        "id": "a",
                        "name": "a",
                        "conditions": [{"field": "mood", "op": "eq"}],
                        "actions": {},
                    }
                ]
            },
            "rules.0.conditions.0.field",
            "unknown field 'mood'",
        ),
        (
            {
                "rules": [
                    {
                        "id": "a",
                        "name": "a",
                        "conditions": [{"field": "price", "op": "gt", "value": "cheap"}],
                        "actions": {},
                    }
                ]
            },
            "rules.0.conditions.0",
            "price needs a number",
        ),
        (
            {
                "rules": [
                    {
                        "id": "a",
                        "name": "a",
                        "conditions": [{"field": "tag", "op": "any_of", "value": "x"}],
                        "actions": {},
                    }
                ]
            },
            "rules.0.conditions.0",
            "tag any_of needs a non-empty list of strings",
        ),
        (
            {"rules": [{"id": "a", "name": "a", "actions": {"outcomes": ["cash"]}}]},
            "rules.0.actions.outcomes.0",
            "Input should be",
        ),
        (
            {"rules": [{"id": "a", "name": "a", "actions": {"restocking_fee_percent": 101}}]},
            "rules.0.actions.restocking_fee_percent",
            "less than or equal to 100",
        ),
        ({"defaults": {"refund_timing": "someday"}}, "defaults.refund_timing", "Input should be"),
        (
            {
                "rules": [
                    {"id": "a", "name": "a", "actions": {}},
                    {"id": "a", "name": "b", "actions": {}},
                ]
            },
            "rules.1.id",
            "'a' is used twice",
        ),
        (
            {"upcharge_payment_url": "javascript:alert(1)"},
            "upcharge_payment_url",
            "must be an http(s) URL",
        ),
    ],
)
def test_bad_rules_name_the_field(definition, field, message):
    with pytest.raises(DomainError) as caught:
        validate_definition(definition)
    assert caught.value.field == field
    assert message in caught.value.message


def test_two_hundred_rules_evaluate_without_touching_the_database(django_assert_num_queries, db):
    rules = [
        {
            "id": f"r{i}",
            "name": f"rule {i}",
            "conditions": [
                {"field": "category", "op": "eq", "value": f"cat{i}"},
                {"field": "price", "op": "gt", "value": i},
            ],
            "actions": {"window_days": 30 + i % 5},
        }
        for i in range(200)
    ]
    compiled = compile_rules(validate_definition({"rules": rules}))
    with django_assert_num_queries(0):
        decision = evaluate(compiled, order_facts(), line_facts(category="cat150"))
    assert decision.matched == []
    decision = evaluate(compiled, order_facts(), line_facts(category="cat100"))
    assert decision.matched == ["r100"]


def test_order_conditions_computed_once_per_order_give_the_same_decision():
    from aftersale.returns.rules import order_pass

    ruleset = validate_definition(
        {
            "rules": [
                {
                    "id": "vip-jackets",
                    "name": "VIP jackets",
                    "conditions": [
                        {"field": "customer_tags", "op": "contains", "value": "vip"},
                        {"field": "category", "op": "eq", "value": "jackets"},
                    ],
                    "actions": {"window_days": 90},
                },
                {
                    "id": "de",
                    "name": "Germany",
                    "conditions": [{"field": "country", "op": "eq", "value": "de"}],
                    "actions": {"credit_bonus_percent": 7},
                },
            ]
        }
    )
    compiled = compile_rules(ruleset)
    order = order_facts(customer_tags=frozenset({"vip"}))
    passed = order_pass(compiled, order)

    for line in (line_facts(), line_facts(category="socks")):
        assert evaluate(compiled, order, line, None, passed) == evaluate(compiled, order, line)
    assert passed == (True, True)
    assert evaluate(compiled, order, line_facts(), None, passed).matched == ["vip-jackets", "de"]


def test_condition_values_are_data_never_code():
    value = "x') or True or ('"
    decision = decide([{"field": "sku", "op": "eq", "value": value}], DENY)
    assert decision.allowed is True
    assert decide([{"field": "sku", "op": "eq", "value": "__import__('os')"}], DENY).allowed is True
