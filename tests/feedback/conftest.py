"""Fixtures of the feedback tests: an order with products and a late or on-time parcel, and the
survey message about it (queued through messaging like a flow would)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.messaging.services import message_enqueue
from aftersale.orders.models import Order, OrderLine
from aftersale.tracking.models import Shipment

UTC = dt.UTC
PLACED = dt.datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def make_customer(store, *, email="ana@example.com", locale="en", first_name="Ana"):
    return Customer.objects.create(
        store=store,
        email=email,
        first_name=first_name,
        last_name="Souza",
        locale=locale,
        time_zone="Europe/Berlin",
    )


def make_order(
    store,
    customer,
    *,
    number="1001",
    placed_at=PLACED,
    products=(("Trail Mug", "Kitchen"), ("Wool Socks", "Clothing")),
):
    order = Order.objects.create(
        store=store,
        external_id=number,
        number=f"#{number}",
        currency=store.currency,
        customer=customer,
        email=customer.email if customer else "",
        placed_at=placed_at,
        total=Decimal("42.00"),
        subtotal=Decimal("42.00"),
    )
    for title, category in products:
        product, _ = Product.objects.get_or_create(
            store=store, title=title, defaults={"category": category}
        )
        OrderLine.objects.create(
            store=store,
            order=order,
            product=product,
            title=title,
            unit_price=Decimal("21.00"),
            quantity=1,
            total=Decimal("21.00"),
        )
    return order


def make_shipment(
    store,
    order,
    *,
    carrier_code="dhl_paket",
    promised=dt.date(2026, 11, 5),
    delivered=dt.datetime(2026, 11, 7, 12, 0, tzinfo=UTC),
    origin=("BE", "DE"),
    destination=("BY", "DE"),
):
    return Shipment.objects.create(
        store=store,
        order=order,
        carrier="DHL",
        carrier_code=carrier_code,
        tracking_number=f"T{order.number}{carrier_code}",
        status="delivered" if delivered else "in_transit",
        origin_region=origin[0],
        origin_country=origin[1],
        destination_region=destination[0],
        destination_country=destination[1],
        shipped_at=PLACED + dt.timedelta(days=1),
        promised_delivery_date=promised,
        delivered_at=delivered,
    )


def survey_message(store, order, *, kind="survey_nps", shipment=None, key=None):
    message, _ = message_enqueue(
        store=store,
        kind=kind,
        order=order,
        shipment=shipment,
        idempotency_key=key or f"test:{kind}:{order.public_id}",
    )
    return message


@pytest.fixture
def customer(store):
    return make_customer(store)


@pytest.fixture
def order(store, customer):
    return make_order(store, customer)


@pytest.fixture
def late_shipment(store, order):
    return make_shipment(store, order)


@pytest.fixture
def nps_message(store, order, late_shipment):
    return survey_message(store, order)
