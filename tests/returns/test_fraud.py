"""Fraud signals say which signal fired and what it saw; a flagged return waits for review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aftersale.returns.fraud import FraudFacts, fraud_signals
from aftersale.returns.rules import FraudSettingsIn
from aftersale.returns.services import return_request_create
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _at_now,
    _media,
    _shop,
    create_in,
    deliver,
    make_order,
)


def facts(**extra) -> FraudFacts:
    values = {
        "currency": "EUR",
        "returns_last_year": 0,
        "orders": 1,
        "returns_total": 0,
        "total_amount": Decimal("50"),
        "items_amount": Decimal("50"),
        "reason_codes": ("too_small", "fit"),
        "days_since_delivery": 5,
        "window_days": 30,
        "delivered": True,
        "order_postal_code": "10115",
        "order_country": "DE",
        "sender_postal_code": "",
        "sender_country": "",
        "rule_flag": False,
    }
    values.update(extra)
    return FraudFacts(**values)


SETTINGS = FraudSettingsIn(serial_returner_count=3)


def test_an_ordinary_return_raises_nothing():
    assert fraud_signals(facts(), SETTINGS) == []


def test_each_signal_explains_itself():
    signals = fraud_signals(
        facts(
            returns_last_year=2,
            returns_total=4,
            orders=6,
            total_amount=Decimal("320"),
            reason_codes=("changed_mind",),
            days_since_delivery=28,
            sender_postal_code="80331",
            sender_country="DE",
            rule_flag=True,
            rule_ids=("serial-returner",),
        ),
        SETTINGS,
    )
    assert signals == [
        {
            "signal": "serial_returner",
            "detail": "3 returns in the last 365 days, counting this one (threshold 3)",
        },
        {
            "signal": "high_return_rate",
            "detail": "5 returns for 6 orders (83%; threshold 50%)",
        },
        {"signal": "high_value", "detail": "€320.00 returned (threshold €300.00)"},
        {
            "signal": "wardrobing_window",
            "detail": (
                "returned 28 days after delivery, in the last 3 days of a 30-day window, "
                "for 'changed_mind'"
            ),
        },
        {
            "signal": "mismatched_address",
            "detail": "sent from 80331 DE, but the order went to 10115 DE",
        },
        {"signal": "rule", "detail": "flagged by the store's rules (serial-returner)"},
    ]


def test_a_parcel_not_yet_delivered_is_a_signal_only_when_tracked():
    assert fraud_signals(facts(delivered=False), SETTINGS)[0]["signal"] == "not_delivered"
    assert fraud_signals(facts(delivered=False, has_shipments=False), SETTINGS) == []


def test_same_postcode_written_differently_is_not_a_mismatch():
    assert fraud_signals(facts(sender_postal_code="10 115"), SETTINGS) == []


@pytest.mark.django_db
def test_a_serial_returner_is_flagged_and_held_for_review(shop):
    for n in range(4):
        order = make_order(shop.store, external_id=f"20{n}")
        deliver(shop.store, order)
        line = order.lines.get(external_id="l1")
        return_request_create(
            store=shop.store,
            order=order,
            data=create_in([(line, 1, "too_small")], key=f"earlier-{n}-key"),
        )

    ret = return_request_create(
        store=shop.store, order=shop.order, data=create_in([(shop.jacket, 1, "too_small")])
    ).request

    assert (ret.status, ret.fraud_flagged) == ("requested", True)
    assert [s["signal"] for s in ret.fraud_signals] == ["serial_returner", "high_return_rate"]
    assert ret.transitions.count() == 1
