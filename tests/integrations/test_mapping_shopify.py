"""Shopify bodies → our input models, fed with Shopify's own example payloads; whole results."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aftersale.integrations.mapping_shopify import (
    body_ref,
    map_customer,
    map_fulfillment,
    map_fulfillment_event,
    map_order,
    map_refund,
)

BOB_ADDRESS = {
    "name": "Bob Norman",
    "company": "",
    "line1": "Chestnut Street 92",
    "line2": "",
    "city": "Louisville",
    "region": "KY",
    "postal_code": "40202",
    "country": "US",
    "phone": "555-625-1199",
}


def ipod_line(line_id: str, sku: str, colour: str, variant_id: str) -> dict:
    return {
        "external_id": line_id,
        "sku": sku,
        "title": "IPod Nano - 8gb",
        "variant_title": colour,
        "product_external_id": "632910392",
        "variant_external_id": variant_id,
        "unit_price": Decimal("199.00"),
        "quantity": 1,
        "discount": Decimal("0"),
        "requires_shipping": True,
    }


def test_order_maps_every_field(payload):
    result = map_order(payload("shopify_order.json"))

    assert result.model_dump() == {
        "external_id": "450789469",
        "number": "1001",
        "source": "shopify",
        "status": "open",
        "financial_status": "authorized",
        "fulfillment_status": None,
        "channel": "online",
        "currency": "USD",
        "subtotal": Decimal("398.00"),
        "discount_total": Decimal("0.00"),
        "shipping_total": Decimal("0.00"),
        "tax_total": Decimal("11.94"),
        "total": Decimal("409.94"),
        "discount_codes": ["TENOFF"],
        "placed_at": datetime(2008, 1, 10, 16, 0, tzinfo=UTC),
        "cancelled_at": None,
        "cancel_reason": "",
        "customer": {
            "external_id": "207119551",
            "email": "bob.norman@hostmail.com",
            "phone": None,
            "first_name": "Bob",
            "last_name": "Norman",
            "locale": "",
            "time_zone": "",
            "birthday": None,
            "accepts_marketing": False,
            "marketing_consent_source": "shopify",
            "tags": [],
        },
        "email": "bob.norman@hostmail.com",
        "shipping_address": BOB_ADDRESS,
        "billing_address": BOB_ADDRESS,
        "tags": [],
        "note": "",
        "lines": [
            ipod_line("466157049", "IPOD2008GREEN", "green", "39072856"),
            ipod_line("518995019", "IPOD2008RED", "red", "49148385"),
            ipod_line("703073504", "IPOD2008BLACK", "black", "457924702"),
        ],
    }
    # Only what Shopify told counts as sent, so the customer record keeps its phone, birthday …
    assert result.customer.model_fields_set == {
        "external_id",
        "email",
        "first_name",
        "last_name",
        "tags",
        "accepts_marketing",
        "marketing_consent_source",
    }


def test_order_without_customer_or_addresses_still_maps(payload):
    raw = payload("shopify_order.json")
    raw.update(customer=None, shipping_address=None, billing_address=None, email="", tags=None)
    del raw["total_line_items_price"]

    result = map_order(raw)

    assert result.customer is None
    assert result.email is None
    assert result.shipping_address is None
    assert result.billing_address is None
    assert result.tags == []
    assert result.subtotal == Decimal("597.00")  # from the lines when the total is absent


def test_pos_cancelled_order_with_discounts_tags_and_consent(payload):
    raw = payload("shopify_order.json")
    raw.update(
        source_name="pos",
        cancelled_at="2008-01-11T09:30:00+01:00",
        cancel_reason="customer",
        processed_at="2008-01-10T10:59:00-05:00",
        tags="vip, wholesale ,,gift",
        financial_status="expired",
        fulfillment_status="partial",
        shipping_lines=[{"price": "4.50"}, {"price": "1.00"}],
    )
    raw["line_items"][0]["discount_allocations"] = [{"amount": "5.00"}, {"amount": "2.50"}]
    raw["line_items"][1]["total_discount"] = "3.00"
    raw["line_items"][2]["quantity"] = 0  # removed by an order edit
    raw["customer"]["email_marketing_consent"] = {"state": "subscribed"}
    raw["customer"]["phone"] = "(502) 555-0123"

    result = map_order(raw)

    assert result.channel == "in_store"
    assert result.status == "cancelled"
    assert result.cancelled_at == datetime(2008, 1, 11, 8, 30, tzinfo=UTC)
    assert result.cancel_reason == "customer"
    assert result.placed_at == datetime(2008, 1, 10, 15, 59, tzinfo=UTC)
    assert result.tags == ["vip", "wholesale", "gift"]
    assert result.financial_status == "voided"
    assert result.fulfillment_status == "partial"
    assert result.shipping_total == Decimal("5.50")
    assert [(line.external_id, line.discount) for line in result.lines] == [
        ("466157049", Decimal("7.50")),
        ("518995019", Decimal("3.00")),
    ]
    assert result.customer.accepts_marketing is True
    assert result.customer.phone == "+15025550123"


def test_unusable_values_are_dropped_not_fatal(payload):
    raw = payload("shopify_order.json")
    raw["email"] = "not an address"
    raw["customer"]["email"] = "also@not"
    raw["customer"]["phone"] = "call me"
    raw["shipping_address"]["country_code"] = "United States"

    result = map_order(raw)

    assert result.email is None
    assert "email" not in result.customer.model_fields_set
    assert result.customer.phone is None
    assert result.shipping_address.country == ""


def test_fulfillment_maps_every_field(payload):
    result = map_fulfillment(payload("shopify_fulfillment.json"))

    assert result.model_dump(mode="json") == {
        "order": "450789469",
        "external_id": "255858046",
        "source": "shopify",
        "carrier": "null-company",
        "service": "",
        "tracking_number": "1Z2345",
        "tracking_url": "http://www.google.com/search?q=1Z2345",
        "status": None,
        "shipped_at": "2013-11-01T20:06:08Z",
        "promised_delivery_date": None,
        "delivered_at": None,
        "origin_postal_code": "",
        "origin_city": "",
        "origin_region": "",
        "origin_country": "",
        "lines": [{"line": "466157049", "quantity": 1}],
        "events": [],
    }


@pytest.mark.parametrize(
    ("status", "shipment_status", "expected"),
    [
        ("success", "in_transit", "in_transit"),
        ("success", "delivered", "delivered"),
        ("success", "attempted_delivery", "attempt_failed"),
        ("success", "confirmed", None),
        ("cancelled", "in_transit", "cancelled"),
    ],
)
def test_fulfillment_status_to_canonical(payload, status, shipment_status, expected):
    raw = payload("shopify_fulfillment.json")
    raw.update(status=status, shipment_status=shipment_status)
    assert map_fulfillment(raw).status == expected


def test_fulfillment_with_only_lists_of_numbers_and_a_bad_url(payload):
    raw = payload("shopify_fulfillment.json")
    raw.update(
        tracking_number=None,
        tracking_numbers=["JD014600006281230704", "second"],
        tracking_url="not a url",
        tracking_urls=[],
        tracking_company=None,
    )

    result = map_fulfillment(raw)

    assert (result.tracking_number, result.tracking_url, result.carrier) == (
        "JD014600006281230704",
        None,
        "",
    )


def test_fulfillment_event_maps_every_field(payload):
    result = map_fulfillment_event(payload("shopify_fulfillment_event.json"))

    assert result.order_external_id == "2776493818019"
    assert result.fulfillment_external_id == "2608403447971"
    assert result.event.model_dump() == {
        "occurred_at": datetime(2021, 1, 25, 21, 32, 23, tzinfo=UTC),
        "status": "label_created",
        "raw_status": "label_printed",
        "raw_text": "",
        "location": "",
    }


def test_refund_maps_every_field(payload):
    result = map_refund(payload("shopify_refund.json"))

    assert result.order_external_id == "450789469"
    assert result.refund.model_dump() == {
        "external_id": "509562969",
        "source": "shopify",
        "amount": Decimal("209.00"),
        "currency": "USD",
        "reason": "",
        "note": "it broke during shipping",
        "processed_at": datetime(2016, 6, 20, 17, 35, 6, tzinfo=UTC),
        "lines": [
            {"line": "703073504", "quantity": 1, "amount": None, "restock": True},
            {"line": "466157049", "quantity": 1, "amount": None, "restock": True},
        ],
    }


def test_refund_counts_only_successful_refund_transactions(payload):
    raw = payload("shopify_refund.json")
    ok = raw["transactions"][0]
    raw["transactions"] = [
        ok,
        {**ok, "amount": "50.00", "status": "failure"},
        {**ok, "amount": "7.00", "kind": "void"},
    ]
    raw["refund_line_items"][0].update(subtotal="199.00", restock_type="no_restock")

    result = map_refund(raw).refund

    assert result.amount == Decimal("209.00")
    assert result.lines[0].model_dump() == {
        "line": "703073504",
        "quantity": 1,
        "amount": Decimal("199.00"),
        "restock": False,
    }


def test_refund_without_money_has_no_amount(payload):
    raw = payload("shopify_refund.json")
    raw["transactions"] = []
    assert map_refund(raw).refund.amount is None


def test_customer_webhook_body(payload):
    raw = payload("shopify_order.json")["customer"]
    raw.update(tags="newsletter, vip", phone="+4915112345678", email_marketing_consent=None)

    assert map_customer(raw).model_dump() == {
        "external_id": "207119551",
        "email": "bob.norman@hostmail.com",
        "phone": "+4915112345678",
        "first_name": "Bob",
        "last_name": "Norman",
        "locale": "",
        "time_zone": "",
        "birthday": None,
        "accepts_marketing": False,
        "marketing_consent_source": "shopify",
        "tags": ["newsletter", "vip"],
    }


@pytest.mark.parametrize(
    ("topic", "name", "expected"),
    [
        (
            "orders/create",
            "shopify_order.json",
            ("order:shopify:450789469", "450789469", datetime(2008, 1, 10, 16, tzinfo=UTC)),
        ),
        (
            "fulfillments/update",
            "shopify_fulfillment.json",
            ("order:shopify:450789469", "255858046", datetime(2013, 11, 1, 20, 6, 8, tzinfo=UTC)),
        ),
        ("refunds/create", "shopify_refund.json", ("order:shopify:450789469", "509562969", None)),
        (
            "fulfillment_events/create",
            "shopify_fulfillment_event.json",
            (
                "order:shopify:2776493818019",
                "12584341209251",
                datetime(2021, 1, 25, 21, 32, 23, tzinfo=UTC),
            ),
        ),
        (
            "products/create",
            "shopify_order.json",
            ("", "450789469", datetime(2008, 1, 10, 16, tzinfo=UTC)),
        ),
    ],
)
def test_body_ref_points_at_the_order(payload, topic, name, expected):
    ref = body_ref(topic, payload(name))
    assert (ref.object_ref, ref.external_id, ref.updated_at) == expected
