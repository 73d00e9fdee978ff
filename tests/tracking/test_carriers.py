"""Carrier detection from tracking numbers, check digits, tracking pages, manual override."""

from __future__ import annotations

import pytest

from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.carriers import detect_carrier
from aftersale.tracking.schemas import ShipmentIn
from aftersale.tracking.services import shipment_upsert


@pytest.mark.parametrize(
    ("number", "name", "code", "valid"),
    [
        ("1Z5R89390357567127", "", "ups", True),
        ("1Z 5R89 3903 5756 7127", "", "ups", True),  # spaces as printed on labels
        ("1Z5R89390357567126", "", "ups", False),  # check digit off by one
        ("961191421220", "", "fedex", True),
        ("9205590164917312751089", "", "usps", True),
        ("RA123456785DE", "", "deutsche_post", True),
        ("EA123456785US", "", "usps", True),
        ("LX123456789BR", "Correios", "correios", False),  # S10 shape, check digit wrong
        ("00340434161094042557", "DHL", "dhl_paket", None),  # format unknown: the name decides
        ("ABC", "Some Local Courier", "", None),
    ],
)
def test_detection(number, name, code, valid):
    found = detect_carrier(number, name)
    assert (found.code, found.valid) == (code, valid)


def test_detected_carrier_gives_its_tracking_page():
    found = detect_carrier("1Z5R89390357567127")
    assert found.name == "UPS"
    assert found.url == "https://www.ups.com/track?tracknum=1Z5R89390357567127"


def test_valid_number_of_another_carrier_wins_over_the_typed_name():
    assert detect_carrier("1Z5R89390357567127", "DHL").code == "ups"


@pytest.fixture
def order(store):
    return order_upsert(
        store=store,
        data=OrderIn(
            external_id="o1",
            placed_at="2026-11-20T10:00:00Z",
            lines=[{"title": "Mug", "unit_price": "10", "quantity": 1}],
        ),
    ).order


@pytest.mark.django_db
def test_shipment_gets_carrier_validity_and_url(store, order):
    shipment = shipment_upsert(
        store=store,
        data=ShipmentIn(
            order=order.public_id, external_id="f1", tracking_number="1Z5R89390357567126"
        ),
    ).shipment

    assert shipment.carrier == "UPS"
    assert shipment.carrier_code == "ups"
    assert shipment.tracking_number_valid is False
    assert shipment.tracking_url == "https://www.ups.com/track?tracknum=1Z5R89390357567126"


@pytest.mark.django_db
def test_the_shops_own_tracking_url_is_kept(store, order):
    shipment = shipment_upsert(
        store=store,
        data=ShipmentIn(
            order=order.public_id,
            external_id="f1",
            carrier="DHL",
            tracking_number="00340434161094042557",
            tracking_url="https://shop.example/track/00340434161094042557",
        ),
    ).shipment

    assert shipment.carrier_code == "dhl_paket"
    assert shipment.tracking_url == "https://shop.example/track/00340434161094042557"


@pytest.mark.django_db
def test_a_carrier_set_by_staff_is_not_redetected(store, order):
    shipment = shipment_upsert(
        store=store,
        data=ShipmentIn(order=order.public_id, external_id="f1", tracking_number="961191421220"),
    ).shipment
    shipment.carrier_code, shipment.carrier_overridden = "gls", True
    shipment.save()

    shipment = shipment_upsert(
        store=store,
        data=ShipmentIn(order=order.public_id, external_id="f1", tracking_number="961191421221"),
    ).shipment

    assert shipment.carrier_code == "gls"
    assert shipment.tracking_url == "https://gls-group.com/track/961191421221"
