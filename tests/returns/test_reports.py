"""Reports: return rates, reasons, retained revenue, time to resolution, serial returners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aftersale.returns import reports
from aftersale.returns.services import (
    Actor,
    return_receive,
    return_refund_confirm,
    return_request_create,
)
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _at_now,
    _media,
    _shop,
    create_in,
    deliver,
    make_order,
)

pytestmark = pytest.mark.django_db
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)


def _resolved(shop, order, line, outcome, key, at_now, days=0, **item):
    ret = return_request_create(
        store=shop.store,
        order=order,
        data=create_in(
            [(line, 1, "too_small", item)], outcome, key=key, shipping_method="in_store"
        ),
    ).request
    at_now.shift(timedelta(days=days))
    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))
    if outcome == "refund":
        return_refund_confirm(store=shop.store, ret=ret, external_id=f"r-{key}")
    ret.refresh_from_db()
    return ret


def test_reports_over_a_small_history(shop, at_now):
    second = make_order(shop.store, external_id="1002")
    deliver(shop.store, second)
    second_jacket = second.lines.get(external_id="l1")
    second_socks = second.lines.get(external_id="l2")
    _resolved(shop, shop.order, shop.jacket, "refund", "k-refund-1", at_now, days=2)
    _resolved(shop, second, second_jacket, "store_credit", "k-credit-1", at_now, days=1)
    _resolved(
        shop,
        second,
        second_socks,
        "exchange_other",
        "k-exch-1",
        at_now,
        days=3,
        exchange_variant=shop.scarf.public_id,
    )

    by_product = reports.return_rates(
        store=shop.store, dimension="product", since=SINCE, until=UNTIL
    )
    by_category = reports.return_rates(
        store=shop.store, dimension="category", since=SINCE, until=UNTIL
    )
    retained = reports.retained_revenue(store=shop.store, since=SINCE, until=UNTIL)
    timing = reports.time_to_resolution(store=shop.store, since=SINCE, until=UNTIL)
    returners = reports.serial_returners(store=shop.store, since=SINCE, until=UNTIL, min_returns=3)
    reasons = reports.reasons_breakdown(store=shop.store, since=SINCE, until=UNTIL)

    assert [(r.label, r.sold, r.returned) for r in by_product] == [
        ("Trail Jacket", 2, 2),
        ("Wool Socks", 4, 1),
    ]
    assert by_product[0].rate == 1.0
    assert [(r.label, r.returned) for r in by_category] == [("Jackets", 2), ("Socks", 1)]
    assert len(retained) == 1
    money = retained[0]
    assert (money.refunded, money.credited, money.exchanged) == (
        Decimal("120.00"),
        Decimal("132.00"),
        Decimal("10.00"),
    )
    assert money.retained == Decimal("142.00")
    assert round(money.retained_share, 3) == 0.542
    assert timing.count == 3
    assert timing.by_outcome == {
        "exchange_other": timedelta(days=3),
        "refund": timedelta(days=2),
        "store_credit": timedelta(days=1),
    }
    assert timing.median == timedelta(days=2)
    assert [(c.email, c.returns, c.orders) for c in returners] == [("ana@example.com", 3, 2)]
    assert [(r.code, r.group, r.units) for r in reasons] == [("too_small", "fit", 3)]
