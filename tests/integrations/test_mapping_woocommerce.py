"""WooCommerce bodies → our input models, fed with WooCommerce's documented order example."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aftersale.integrations.mapping_common import BodyRef
from aftersale.integrations.mapping_woocommerce import (
    body_ref,
    map_customer,
    map_order,
    map_refunds,
)

JOHN_ADDRESS = {
    "name": "John Doe",
    "company": "",
    "line1": "969 Market",
    "line2": "",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94103",
    "country": "US",
    "phone": "(555) 555-5555",
}


def test_order_maps_every_field(payload):
    result = map_order(payload("woocommerce_order.json"))

    assert result.model_dump() == {
        "external_id": "727",
        "number": "727",
        "source": "woocommerce",
        "status": "open",
        "financial_status": "paid",
        "fulfillment_status": None,
        "channel": "online",
        "currency": "USD",
        "subtotal": Decimal("18.00"),
        "discount_total": Decimal("0.00"),
        "shipping_total": Decimal("10.00"),
        "tax_total": Decimal("1.35"),
        "total": Decimal("29.35"),
        "discount_codes": [],
        "placed_at": datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC),
        "cancelled_at": None,
        "cancel_reason": "",
        "customer": {
            "external_id": None,
            "email": "john.doe@example.com",
            "phone": "+15555555555",
            "first_name": "John",
            "last_name": "Doe",
            "locale": "",
            "time_zone": "",
            "birthday": None,
            "accepts_marketing": None,
            "marketing_consent_source": "",
            "tags": [],
        },
        "email": "john.doe@example.com",
        "shipping_address": JOHN_ADDRESS,
        "billing_address": JOHN_ADDRESS,
        "tags": [],
        "note": "",
        "lines": [
            {
                "external_id": "315",
                "sku": "",
                "title": "Woo Single #1",
                "variant_title": "",
                "product_external_id": "93",
                "variant_external_id": None,
                "unit_price": Decimal("3.0000"),
                "quantity": 2,
                "discount": Decimal("0.00"),
                "requires_shipping": True,
            },
            {
                "external_id": "316",
                "sku": "Bar3",
                "title": "Ship Your Idea – Color: Black, Size: M Test",
                "variant_title": "black / M Test",
                "product_external_id": "22",
                "variant_external_id": "23",
                "unit_price": Decimal("12.0000"),
                "quantity": 1,
                "discount": Decimal("0.00"),
                "requires_shipping": True,
            },
        ],
    }
    assert result.customer.model_fields_set == {
        "external_id",
        "email",
        "phone",
        "first_name",
        "last_name",
    }


@pytest.mark.parametrize(
    ("woo_status", "status", "financial", "fulfillment"),
    [
        ("pending", "open", "pending", None),
        ("processing", "open", "paid", None),
        ("on-hold", "open", "pending", None),
        ("completed", "closed", "paid", "fulfilled"),
        ("cancelled", "cancelled", "voided", None),
        ("refunded", "closed", "refunded", None),
        ("failed", "open", "pending", None),
        ("some-plugin-status", "open", "pending", None),
    ],
)
def test_status_table(payload, woo_status, status, financial, fulfillment):
    raw = payload("woocommerce_order.json")
    raw["status"] = woo_status
    result = map_order(raw)
    assert (result.status, result.financial_status, result.fulfillment_status) == (
        status,
        financial,
        fulfillment,
    )


def test_coupons_line_discounts_registered_customer_and_refunds(payload):
    raw = payload("woocommerce_order.json")
    raw["customer_id"] = 42
    raw["coupon_lines"] = [{"id": 1, "code": "spring10", "discount": "1.80"}]
    raw["discount_total"] = "1.80"
    raw["line_items"][1]["total"] = "10.20"
    raw["refunds"] = [{"id": 730, "reason": "damaged", "total": "-5.00"}]
    raw["shipping"] = {"first_name": "", "address_1": "", "city": "", "postcode": "", "country": ""}

    result = map_order(raw)

    assert result.customer.external_id == "42"
    assert result.discount_codes == ["spring10"]
    assert result.discount_total == Decimal("1.80")
    assert result.lines[1].discount == Decimal("1.80")
    assert result.shipping_address is None
    assert result.financial_status == "partially_refunded"
    assert [r.model_dump() for r in map_refunds(raw)] == [
        {
            "external_id": "730",
            "source": "woocommerce",
            "amount": Decimal("5.00"),
            "currency": "USD",
            "reason": "damaged",
            "note": "",
            "processed_at": None,
            "lines": [],
        }
    ]


def test_order_without_refunds_has_none(payload):
    assert map_refunds(payload("woocommerce_order.json")) == []


def test_customer_body():
    raw = {
        "id": 25,
        "email": "John.Doe@Example.com",
        "first_name": "John",
        "last_name": "Doe",
        "role": "customer",
        "billing": {"phone": "(555) 555-5555", "country": "US"},
        "shipping": {},
    }
    assert map_customer(raw).model_dump(exclude_unset=True) == {
        "external_id": "25",
        "email": "John.Doe@example.com",
        "phone": "+15555555555",
        "first_name": "John",
        "last_name": "Doe",
    }


def test_body_ref(payload):
    raw = payload("woocommerce_order.json")
    assert body_ref("order.updated", raw) == BodyRef(
        "order:woocommerce:727", "727", datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    )
    assert body_ref("customer.created", {"id": 25}) == BodyRef(
        "customer:woocommerce:25", "25", None
    )
    assert body_ref("product.created", {"id": 9}) == BodyRef("", "9", None)
