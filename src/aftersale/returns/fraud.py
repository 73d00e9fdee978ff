"""Fraud signals that explain themselves: each one that fires says what it saw.

`fraud_signals` is a pure function over facts the caller gathered; the service stores its result
on the return (`fraud_signals`, `fraud_flagged`) and the back office shows it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from aftersale.core.money import format_money
from aftersale.returns.rules import FraudSettingsIn


@dataclass(frozen=True)
class FraudFacts:
    currency: str
    returns_last_year: int  # live returns of this customer in the last 365 days, before this one
    orders: int  # the customer's orders (not cancelled)
    returns_total: int  # live returns of this customer ever, before this one
    total_amount: Decimal  # what this return pays out
    items_amount: Decimal
    reason_codes: tuple[str, ...]  # leaf and parent codes of the returned lines
    days_since_delivery: int
    window_days: int
    delivered: bool
    order_postal_code: str
    order_country: str
    sender_postal_code: str
    sender_country: str
    rule_flag: bool  # a rule said "fraud_review"
    rule_ids: tuple[str, ...] = ()
    has_shipments: bool = True  # the merchant sends shipments for this order


def _code(value: str) -> str:
    return re.sub(r"[\s\-]", "", value or "").upper()


def fraud_signals(facts: FraudFacts, settings: FraudSettingsIn) -> list[dict[str, str]]:
    signals: list[dict[str, str]] = []
    if facts.returns_last_year + 1 >= settings.serial_returner_count:
        signals.append(
            {
                "signal": "serial_returner",
                "detail": (
                    f"{facts.returns_last_year + 1} returns in the last 365 days, counting this "
                    f"one (threshold {settings.serial_returner_count})"
                ),
            }
        )
    if facts.orders >= 3:
        rate = Decimal(facts.returns_total + 1) / Decimal(facts.orders)
        if rate >= settings.high_return_rate:
            signals.append(
                {
                    "signal": "high_return_rate",
                    "detail": (
                        f"{facts.returns_total + 1} returns for {facts.orders} orders "
                        f"({rate:.0%}; threshold {settings.high_return_rate:.0%})"
                    ),
                }
            )
    value = max(facts.total_amount, facts.items_amount)
    if value >= settings.high_value_amount:
        signals.append(
            {
                "signal": "high_value",
                "detail": (
                    f"{format_money(value, facts.currency)} returned (threshold "
                    f"{format_money(settings.high_value_amount, facts.currency)})"
                ),
            }
        )
    wardrobing = {c.lower() for c in settings.wardrobing_reasons}
    late = facts.days_since_delivery >= facts.window_days - settings.wardrobing_last_days
    if facts.delivered and late and wardrobing & set(facts.reason_codes):
        signals.append(
            {
                "signal": "wardrobing_window",
                "detail": (
                    f"returned {facts.days_since_delivery} days after delivery, in the last "
                    f"{settings.wardrobing_last_days} days of a {facts.window_days}-day window, "
                    f"for '{', '.join(sorted(wardrobing & set(facts.reason_codes)))}'"
                ),
            }
        )
    if (
        facts.sender_postal_code
        and facts.order_postal_code
        and (
            _code(facts.sender_postal_code) != _code(facts.order_postal_code)
            or (
                facts.sender_country
                and facts.order_country
                and facts.sender_country.upper() != facts.order_country.upper()
            )
        )
    ):
        signals.append(
            {
                "signal": "mismatched_address",
                "detail": (
                    f"sent from {facts.sender_postal_code} {facts.sender_country}".strip()
                    + f", but the order went to {facts.order_postal_code} "
                    f"{facts.order_country}".rstrip()
                ),
            }
        )
    if facts.has_shipments and not facts.delivered:
        signals.append(
            {
                "signal": "not_delivered",
                "detail": "the order's parcel has no delivery scan yet, but a return is asked for",
            }
        )
    if facts.rule_flag:
        signals.append(
            {
                "signal": "rule",
                "detail": "flagged by the store's rules"
                + (f" ({', '.join(facts.rule_ids)})" if facts.rule_ids else ""),
            }
        )
    return signals
