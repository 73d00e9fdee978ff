"""Eligibility, quotes and creating a return: amounts from the server, bad input refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aftersale.catalog.models import Variant
from aftersale.core.models import OutboxEvent
from aftersale.core.services import DomainError
from aftersale.returns.models import ReturnLine, ReturnPhoto, ReturnRequest, ReturnTransition
from aftersale.returns.selectors import (
    order_find_for_return,
    return_eligibility,
    return_from_token,
    return_status,
    return_status_token,
)
from aftersale.returns.services import (
    Actor,
    return_quote,
    return_request_check,
    return_request_create,
    rules_save,
)
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _at_now,
    _media,
    _shop,
    create_in,
    png_photo,
)

pytestmark = pytest.mark.django_db


def test_order_is_found_by_number_and_email_or_postcode(shop):
    store, order = shop.store, shop.order
    assert order_find_for_return(store=store, number="1001", email="ANA@example.com ") == order
    assert order_find_for_return(store=store, number="#1001", postal_code="10 115") == order
    assert order_find_for_return(store=store, number="1001", email="eve@example.com") is None
    assert order_find_for_return(store=store, number="1001", postal_code="99999") is None
    assert order_find_for_return(store=store, number="1001") is None  # needs one of them
    assert order_find_for_return(store=store, number="1002", email="ana@example.com") is None


def test_eligibility_lists_what_each_line_can_do(shop):
    result = return_eligibility(store=shop.store, order=shop.order)

    assert result.eligible is True
    jacket, socks, cap = result.lines
    assert (jacket.eligible, jacket.returnable_qty, jacket.unit_amount) == (
        True,
        1,
        Decimal("120.00"),
    )
    assert [o.code for o in jacket.outcomes] == [
        "refund",
        "store_credit",
        "exchange_same",
        "exchange_other",
    ]
    credit = next(o for o in jacket.outcomes if o.code == "store_credit")
    assert credit.unit_amount == Decimal("132.00")  # +10% bonus from the default rules
    # Same product, in stock or untracked, never the bought variant or the sold-out one.
    assert [v.title for v in jacket.exchange_variants] == ["XL"]
    assert (socks.unit_amount, socks.returnable_qty) == (Decimal("10.00"), 2)
    assert "keep_item" not in {o.code for o in socks.outcomes}
    assert cap.eligible is False
    assert cap.deny_message == "This item was sold as final sale and cannot be returned."
    assert [r.code for r in jacket.reasons] == [
        "fit",
        "damaged",
        "wrong_item",
        "not_as_described",
        "changed_mind",
        "arrived_late",
    ]
    assert [c.code for c in jacket.reasons[0].children] == ["too_small", "too_large"]
    assert jacket.photo_reasons == {"damaged", "wrong_item"}
    assert result.shipping_methods == ["drop_off", "in_store", "prepaid_label"]


def test_a_closed_window_makes_nothing_returnable(shop, at_now):
    at_now.move_to("2026-12-06T09:00:00Z")  # 31 days after delivery

    result = return_eligibility(store=shop.store, order=shop.order)

    assert result.eligible is False
    assert result.lines[0].deny_message == (
        "The return window of 30 days for this item has closed."
    )


def test_quote_prices_each_outcome_on_the_server(shop):
    store, order = shop.store, shop.order
    items = [(shop.jacket, 1, "too_small"), (shop.socks, 1, "changed_mind")]

    refund = return_quote(store=store, order=order, data=create_in(items, "refund"))
    credit = return_quote(store=store, order=order, data=create_in(items, "store_credit"))

    assert (refund.items_amount, refund.fee_amount, refund.total_amount) == (
        Decimal("130.00"),
        Decimal("0.00"),
        Decimal("130.00"),
    )
    assert (credit.bonus_amount, credit.total_amount) == (Decimal("13.00"), Decimal("143.00"))
    assert refund.refund_timing == "on_receipt"
    assert refund.matched_rules == ["credit-bonus"]


def test_exchange_for_a_dearer_product_shows_the_upcharge(shop):
    data = create_in(
        [(shop.jacket, 1, "not_as_described", {"exchange_variant": shop.boots.public_id})],
        "exchange_other",
    )

    quote = return_quote(store=shop.store, order=shop.order, data=data)

    assert (quote.exchange_amount, quote.upcharge_amount, quote.total_amount) == (
        Decimal("150.00"),
        Decimal("30.00"),
        Decimal("0"),
    )


def test_exchange_for_a_cheaper_product_leaves_credit(shop):
    data = create_in(
        [(shop.jacket, 1, "not_as_described", {"exchange_variant": shop.scarf.public_id})],
        "exchange_other",
    )

    quote = return_quote(store=shop.store, order=shop.order, data=data)

    assert (quote.upcharge_amount, quote.total_amount) == (Decimal("0.00"), Decimal("90.00"))


def test_fees_are_charged_and_waived_by_rule(shop):
    rules_save(
        store=shop.store,
        definition={
            "defaults": {"return_fee": "4.95", "restocking_fee_percent": "10"},
            "rules": [],
        },
    )
    items = [(shop.jacket, 1, "too_small")]

    refund = return_quote(store=shop.store, order=shop.order, data=create_in(items, "refund"))
    damaged = return_quote(
        store=shop.store, order=shop.order, data=create_in([(shop.jacket, 1, "damaged")])
    )
    exchange = return_quote(
        store=shop.store,
        order=shop.order,
        data=create_in(
            [(shop.jacket, 1, "too_small", {"exchange_variant": shop.jacket_xl.public_id})],
            "exchange_same",
        ),
    )

    assert (refund.return_fee, refund.fee_amount, refund.total_amount) == (
        Decimal("4.95"),
        Decimal("16.95"),
        Decimal("103.05"),
    )
    assert (damaged.fee_amount, damaged.total_amount) == (Decimal("0.00"), Decimal("120.00"))
    assert exchange.fee_amount == Decimal("0.00")


def test_create_writes_the_return_and_auto_approves(shop):
    data = create_in([(shop.jacket, 1, "too_small")], "refund", comment="Sleeves too short")

    result = return_request_create(store=shop.store, order=shop.order, data=data)

    ret = result.request
    assert result.created is True
    assert ret.public_id.startswith("ret_")
    assert (ret.reference, ret.status, ret.outcome) == ("#1001-R1", "approved", "refund")
    assert (ret.items_amount, ret.total_amount, ret.currency) == (
        Decimal("120.00"),
        Decimal("120.00"),
        "EUR",
    )
    assert ret.customer == shop.customer
    line = ret.lines.get()
    assert (line.order_line, line.quantity, line.reason_code, line.parent_reason_code) == (
        shop.jacket,
        1,
        "too_small",
        "fit",
    )
    assert list(ret.transitions.values_list("from_status", "to_status", "actor_kind")) == [
        ("", "requested", "shopper"),
        ("requested", "approved", "system"),
    ]
    events = list(OutboxEvent.objects.filter(name__startswith="return.").order_by("id"))
    assert [e.name for e in events] == ["return.requested", "return.approved"]
    payload = events[1].payload
    assert payload["id"] == ret.public_id
    assert payload["order_id"] == shop.order.public_id
    assert payload["customer_id"] == shop.customer.public_id
    assert (payload["status"], payload["total_amount"], payload["currency"]) == (
        "approved",
        "120.00",
        "EUR",
    )


def test_double_submit_creates_one_return(shop):
    data = create_in([(shop.jacket, 1, "too_small")], key="same-key-123")

    first = return_request_create(store=shop.store, order=shop.order, data=data)
    second = return_request_create(store=shop.store, order=shop.order, data=data)

    assert (first.created, second.created) == (True, False)
    assert second.request.pk == first.request.pk
    assert ReturnRequest.objects.count() == 1
    assert OutboxEvent.objects.filter(name="return.requested").count() == 1


def _refused(shop, data, field, message=None, photos=None):
    before = (
        ReturnRequest.objects.count(),
        ReturnLine.objects.count(),
        OutboxEvent.objects.count(),
        list(Variant.objects.order_by("pk").values_list("inventory_quantity", flat=True)),
    )
    with pytest.raises(DomainError) as caught:
        return_request_create(store=shop.store, order=shop.order, data=data, photos=photos)
    assert caught.value.field == field
    if message:
        assert caught.value.message == message
    after = (
        ReturnRequest.objects.count(),
        ReturnLine.objects.count(),
        OutboxEvent.objects.count(),
        list(Variant.objects.order_by("pk").values_list("inventory_quantity", flat=True)),
    )
    assert after == before
    return caught.value


def test_an_item_already_returned_is_refused(shop):
    return_request_create(
        store=shop.store, order=shop.order, data=create_in([(shop.jacket, 1, "too_small")])
    )

    _refused(
        shop,
        create_in([(shop.jacket, 1, "too_large")], key="key-00000002"),
        "items.0.line",
        "This item has already been returned.",
    )


def test_a_quantity_above_what_was_bought_is_refused(shop):
    _refused(
        shop,
        create_in([(shop.socks, 3, "changed_mind")]),
        "items.0.quantity",
        "Wool Socks: 2 bought, 0 already returned, 3 asked",
    )


def test_partial_returns_leave_the_rest_returnable(shop):
    return_request_create(
        store=shop.store, order=shop.order, data=create_in([(shop.socks, 1, "changed_mind")])
    )

    _refused(
        shop,
        create_in([(shop.socks, 2, "changed_mind")], key="key-00000002"),
        "items.0.quantity",
        "Wool Socks: 2 bought, 1 already returned, 2 asked",
    )
    second = return_request_create(
        store=shop.store,
        order=shop.order,
        data=create_in([(shop.socks, 1, "changed_mind")], key="key-00000003"),
    )
    assert second.request.reference == "#1001-R2"


def test_a_closed_window_is_refused(shop, at_now):
    at_now.move_to("2026-12-06T09:00:00Z")
    _refused(
        shop,
        create_in([(shop.jacket, 1, "too_small")]),
        "order",
        "The return window of 30 days for this item has closed.",
    )


def test_a_final_sale_item_is_refused(shop):
    _refused(
        shop,
        create_in([(shop.cap, 1, "changed_mind")]),
        "items.0.line",
        "This item was sold as final sale and cannot be returned.",
    )


def test_a_tampered_outcome_is_refused(shop):
    # keep_item is only offered under 10 (default rules); the jacket costs 120.
    _refused(shop, create_in([(shop.jacket, 1, "too_small")], "keep_item"), "outcome")


def test_a_tampered_amount_is_refused(shop):
    data = create_in([(shop.jacket, 1, "too_small")], expected_total=Decimal("999.00"))
    error = _refused(shop, data, "expected_total")
    assert error.message.startswith("the amount is 120.00 EUR, not 999.00")


def test_a_parent_reason_or_unknown_reason_is_refused(shop):
    _refused(shop, create_in([(shop.jacket, 1, "fit")]), "items.0.reason")
    _refused(shop, create_in([(shop.jacket, 1, "bored")]), "items.0.reason")


def test_a_line_of_another_order_is_refused(shop):
    from tests.returns.test_services_fixtures import make_order

    other = make_order(shop.store, external_id="1002")
    stranger = other.lines.first()
    _refused(shop, create_in([(stranger, 1, "too_small")]), "items.0.line")


def test_exchange_for_an_out_of_stock_variant_is_refused(shop):
    data = create_in(
        [(shop.jacket, 1, "too_small", {"exchange_variant": shop.jacket_l.public_id})],
        "exchange_same",
    )
    _refused(shop, data, "items.0.exchange_variant", "Trail Jacket – L is out of stock")


def test_exchange_same_needs_another_variant_of_the_same_product(shop):
    data = create_in(
        [(shop.jacket, 1, "too_small", {"exchange_variant": shop.boots.public_id})],
        "exchange_same",
    )
    _refused(shop, data, "items.0.exchange_variant")


def test_exchange_reserves_stock_and_cancel_releases_it(shop):
    from aftersale.returns.services import return_cancel

    data = create_in(
        [(shop.jacket, 1, "too_small", {"exchange_variant": shop.boots.public_id})],
        "exchange_other",
    )
    ret = return_request_create(store=shop.store, order=shop.order, data=data).request
    shop.boots.refresh_from_db()
    assert shop.boots.inventory_quantity == 2

    return_cancel(store=shop.store, ret=ret, actor=Actor.shopper())

    shop.boots.refresh_from_db()
    assert shop.boots.inventory_quantity == 3


def test_photos_are_required_when_the_reason_says_so(shop):
    data = create_in([(shop.jacket, 1, "damaged")])
    _refused(
        shop,
        data,
        "items.0.photos",
        "add at least one photo of Trail Jacket for this reason",
    )

    ret = return_request_create(
        store=shop.store,
        order=shop.order,
        data=data,
        photos={shop.jacket.public_id: [png_photo()]},
    ).request

    photo = ReturnPhoto.objects.get()
    assert photo.line.request == ret
    assert (photo.content_type, photo.width, photo.height) == ("image/png", 8, 6)
    assert photo.file.name == f"returns/{shop.store.pk}/{photo.public_id}.png"
    assert photo.file.read()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        photo.file.url  # noqa: B018  (private: no URL)


def test_a_create_that_fails_after_writing_its_photos_leaves_no_files(shop, media, monkeypatch):
    from aftersale.returns import services

    def fail_after_the_photos(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services.ReturnTransition.objects, "create", fail_after_the_photos)

    with pytest.raises(RuntimeError):
        return_request_create(
            store=shop.store,
            order=shop.order,
            data=create_in([(shop.jacket, 1, "damaged")]),
            photos={shop.jacket.public_id: [png_photo(), png_photo()]},
        )

    assert not ReturnPhoto.objects.exists() and not ReturnRequest.objects.exists()
    assert [f for f in media.rglob("*") if f.is_file()] == []


def test_a_photo_that_is_not_an_image_type_is_refused(shop):
    from aftersale.returns.schemas import PhotoIn

    bad = PhotoIn(content=b"%PDF-1.4", content_type="application/pdf", width=0, height=0)
    _refused(
        shop,
        create_in([(shop.jacket, 1, "damaged")]),
        "items.0.photos",
        photos={shop.jacket.public_id: [bad]},
    )


def test_check_writes_nothing(shop):
    before = ReturnRequest.objects.count(), OutboxEvent.objects.count()
    quote = return_request_check(
        store=shop.store, order=shop.order, data=create_in([(shop.jacket, 1, "too_small")])
    )
    assert quote.total_amount == Decimal("120.00")
    assert (ReturnRequest.objects.count(), OutboxEvent.objects.count()) == before


def test_gift_returns_are_credited_to_the_recipient(shop):
    result = return_eligibility(store=shop.store, order=shop.order, gift=True)
    assert [o.code for o in result.lines[0].outcomes] == ["store_credit"]

    _refused(
        shop,
        create_in(
            [(shop.jacket, 1, "too_small")],
            "refund",
            gift=True,
            gift_recipient_email="bea@example.com",
        ),
        "outcome",
    )


def test_status_token_reads_back_and_forged_tokens_do_not(shop):
    ret = return_request_create(
        store=shop.store, order=shop.order, data=create_in([(shop.jacket, 1, "too_small")])
    ).request

    token = return_status_token(ret)

    assert return_from_token(token) == ret
    assert return_from_token(token[:-2] + "xx") is None
    view = return_status(store=shop.store, ret=ret)
    assert [(s.code, s.done, s.current) for s in view.steps] == [
        ("requested", True, False),
        ("approved", True, True),
        ("label_issued", False, False),
        ("in_transit", False, False),
        ("received", False, False),
        ("refunded", False, False),
        ("closed", False, False),
    ]
    assert view.can_cancel is True
    assert ReturnTransition.objects.filter(request=ret).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_racing_in_threads_creates_one_return(store, at_now, media):
    import threading

    from django.db import connection

    from tests.returns.test_services_fixtures import build_shop

    shop = build_shop(store)
    data = create_in([(shop.jacket, 1, "too_small")], key="racing-key-1")
    barrier = threading.Barrier(4)
    results: list[tuple[str, bool]] = []

    def submit():
        try:
            barrier.wait()
            result = return_request_create(store=shop.store, order=shop.order, data=data)
            results.append((result.request.public_id, result.created))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert len({public_id for public_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert ReturnRequest.objects.count() == 1
    assert OutboxEvent.objects.filter(name="return.requested").count() == 1


def test_an_order_not_shipped_cannot_be_returned_unless_bought_in_store(shop):
    from tests.returns.test_services_fixtures import make_order

    online = make_order(shop.store, external_id="2001")
    counter = make_order(shop.store, external_id="2002")
    counter.channel = "in_store"
    counter.save()

    assert return_eligibility(store=shop.store, order=online).deny_message == (
        "This order has not shipped yet. You can return items once they arrive."
    )
    assert return_eligibility(store=shop.store, order=counter).eligible is True
