"""A small shop to return things to, shared by the returns core tests (fixtures by name).

Import the fixture functions you need (`from tests.returns.test_services_fixtures import shop`);
pytest finds them by their `name=`. Times: the order is placed on 1 November 2026, delivered on
the 5th, and the tests run on the 10th (five days after delivery) unless they move the clock.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import pytest

from aftersale.catalog.models import Product, Variant
from aftersale.core.events import dispatch_pending
from aftersale.customers.models import Customer
from aftersale.orders.models import Order, OrderLine
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.returns.schemas import PhotoIn, ReturnCreateIn
from aftersale.returns.services import reasons_install_defaults
from aftersale.tracking.schemas import ShipmentIn
from aftersale.tracking.services import shipment_upsert

NOW = "2026-11-10T09:00:00Z"


@dataclass
class Shop:
    store: object
    customer: Customer
    order: Order
    jacket: OrderLine  # 1 × 120.00
    socks: OrderLine  # 2 × 12.50 with 5.00 off the line: 10.00 a pair
    cap: OrderLine  # final sale, 15.00
    jacket_m: Variant
    jacket_l: Variant  # out of stock
    jacket_xl: Variant  # not tracked (None)
    boots: Variant  # another product, 150.00, 3 in stock
    scarf: Variant  # another product, 30.00, 10 in stock


def make_catalog(store):
    jacket = Product.objects.create(
        store=store,
        external_id="p-jacket",
        title="Trail Jacket",
        category="Jackets",
        tags=["outdoor", "Waterproof"],
    )
    socks = Product.objects.create(
        store=store, external_id="p-socks", title="Wool Socks", category="Socks"
    )
    cap = Product.objects.create(
        store=store, external_id="p-cap", title="Sale Cap", category="Hats", final_sale=True
    )
    boots = Product.objects.create(
        store=store, external_id="p-boots", title="Hiking Boots", category="Shoes"
    )
    scarf = Product.objects.create(
        store=store, external_id="p-scarf", title="Merino Scarf", category="Accessories"
    )

    def variant(product, ext, title, price, stock):
        return Variant.objects.create(
            store=store,
            product=product,
            external_id=ext,
            sku=ext.upper(),
            title=title,
            price=Decimal(price),
            currency="EUR",
            inventory_quantity=stock,
        )

    return {
        "jacket_m": variant(jacket, "v-jacket-m", "M", "120", 5),
        "jacket_l": variant(jacket, "v-jacket-l", "L", "120", 0),
        "jacket_xl": variant(jacket, "v-jacket-xl", "XL", "120", None),
        "socks": variant(socks, "v-socks", "", "12.50", 40),
        "cap": variant(cap, "v-cap", "", "15", 10),
        "boots": variant(boots, "v-boots", "42", "150", 3),
        "scarf": variant(scarf, "v-scarf", "", "30", 10),
    }


def make_order(store, email="ana@example.com", external_id="1001", placed="2026-11-01T10:00:00Z"):
    data = {
        "external_id": external_id,
        "number": f"#{external_id}",
        "placed_at": placed,
        "email": email,
        "customer": {"email": email, "first_name": "Ana"},
        "shipping_address": {
            "name": "Ana Souza",
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "lines": [
            {
                "external_id": "l1",
                "title": "Trail Jacket",
                "variant_title": "M",
                "sku": "V-JACKET-M",
                "product_external_id": "p-jacket",
                "variant_external_id": "v-jacket-m",
                "unit_price": "120.00",
                "quantity": 1,
            },
            {
                "external_id": "l2",
                "title": "Wool Socks",
                "product_external_id": "p-socks",
                "variant_external_id": "v-socks",
                "unit_price": "12.50",
                "quantity": 2,
                "discount": "5.00",
            },
            {
                "external_id": "l3",
                "title": "Sale Cap",
                "product_external_id": "p-cap",
                "variant_external_id": "v-cap",
                "unit_price": "15.00",
                "quantity": 1,
            },
        ],
    }
    return order_upsert(store=store, data=OrderIn(**data)).order


def deliver(store, order, at="2026-11-05T12:00:00Z", external_id=None):
    return shipment_upsert(
        store=store,
        data=ShipmentIn(
            order=order.public_id,
            external_id=external_id or f"ship-{order.external_id}",
            carrier="dhl",
            tracking_number="00340434161234567890",
            status="delivered",
            delivered_at=at,
        ),
    ).shipment


def build_shop(store) -> Shop:
    reasons_install_defaults(store=store)
    catalog = make_catalog(store)
    order = make_order(store)
    deliver(store, order)
    lines = {line.external_id: line for line in order.lines.all()}
    return Shop(
        store=store,
        customer=order.customer,
        order=order,
        jacket=lines["l1"],
        socks=lines["l2"],
        cap=lines["l3"],
        jacket_m=catalog["jacket_m"],
        jacket_l=catalog["jacket_l"],
        jacket_xl=catalog["jacket_xl"],
        boots=catalog["boots"],
        scarf=catalog["scarf"],
    )


@pytest.fixture(name="at_now")
def _at_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture(name="media")
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(name="shop")
def _shop(store, at_now, media) -> Shop:
    return build_shop(store)


def create_in(items, outcome="refund", key="key-00000001", **extra) -> ReturnCreateIn:
    return ReturnCreateIn(
        items=[
            {"line": line.public_id, "quantity": qty, "reason": reason, **more}
            for line, qty, reason, *rest in items
            for more in [rest[0] if rest else {}]
        ],
        outcome=outcome,
        idempotency_key=key,
        **extra,
    )


def png_photo() -> PhotoIn:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return PhotoIn(content=buffer.getvalue(), content_type="image/png", width=8, height=6)


def run_events() -> int:
    total = 0
    while done := dispatch_pending():
        total += done
    return total
