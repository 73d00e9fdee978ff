"""A small shop for the portal's tests (no tests here): products with variants and stock, the
default reasons and rules, and a delivered order with a jacket, two mugs and a final-sale cap.

    shop = make_shop(store)           # products, reasons
    order = make_order(store, shop)   # #1001 for Ana Souza (de), delivered `delivered_days_ago`
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.returns.services import reasons_install_defaults
from aftersale.tracking.models import Shipment


@dataclass
class Shop:
    jacket: Product
    jacket_s: Variant
    jacket_m: Variant
    jacket_l: Variant
    mug: Product
    cap: Product
    boots: Variant


def make_shop(store) -> Shop:
    store.brand_color = "#0b6e4f"
    store.support_email = "help@acme.example"
    store.website_url = "https://acme.example"
    store.postal_address = "Acme Returns\nLagerstraße 5\n04109 Leipzig"
    store.country = "DE"
    store.save()
    reasons_install_defaults(store=store)
    jacket = Product.objects.create(store=store, external_id="p-jacket", title="Trail Jacket")
    sizes = {}
    for size, stock in (("S", 3), ("M", 0), ("L", 2)):
        sizes[size] = Variant.objects.create(
            store=store,
            product=jacket,
            external_id=f"v-jacket-{size}",
            sku=f"JKT-{size}",
            title=size,
            price="120.00",
            currency=store.currency,
            inventory_quantity=stock,
        )
    mug = Product.objects.create(store=store, external_id="p-mug", title="Trail Mug")
    Variant.objects.create(
        store=store,
        product=mug,
        external_id="v-mug",
        sku="MUG-1",
        title="",
        price="19.90",
        currency=store.currency,
        inventory_quantity=40,
    )
    cap = Product.objects.create(
        store=store, external_id="p-cap", title="Sale Cap", final_sale=True
    )
    boots_product = Product.objects.create(store=store, external_id="p-boots", title="Hiking Boots")
    boots = Variant.objects.create(
        store=store,
        product=boots_product,
        external_id="v-boots-42",
        sku="BOOT-42",
        title="42",
        price="150.00",
        currency=store.currency,
        inventory_quantity=5,
    )
    return Shop(
        jacket=jacket,
        jacket_s=sizes["S"],
        jacket_m=sizes["M"],
        jacket_l=sizes["L"],
        mug=mug,
        cap=cap,
        boots=boots,
    )


def make_order(store, *, number="1001", locale="de", delivered_days_ago=5, email="ana@example.com"):
    placed = clock.now() - timedelta(days=delivered_days_ago + 3)
    order = order_upsert(
        store=store,
        data=OrderIn(
            external_id=f"o-{number}",
            number=f"#{number}",
            placed_at=placed.isoformat(),
            email=email,
            customer={
                "email": email,
                "first_name": "Ana",
                "last_name": "Souza",
                "locale": locale,
                "time_zone": "Europe/Berlin",
            },
            shipping_address={
                "name": "Ana Souza",
                "line1": "Torstraße 12",
                "city": "Berlin",
                "postal_code": "10119",
                "country": "DE",
            },
            lines=[
                {
                    "external_id": "l-jacket",
                    "title": "Trail Jacket",
                    "variant_title": "M",
                    "sku": "JKT-M",
                    "product_external_id": "p-jacket",
                    "variant_external_id": "v-jacket-M",
                    "unit_price": "120.00",
                    "quantity": 1,
                },
                {
                    "external_id": "l-mug",
                    "title": "Trail Mug",
                    "sku": "MUG-1",
                    "product_external_id": "p-mug",
                    "variant_external_id": "v-mug",
                    "unit_price": "19.90",
                    "quantity": 2,
                },
                {
                    "external_id": "l-cap",
                    "title": "Sale Cap",
                    "sku": "CAP-1",
                    "product_external_id": "p-cap",
                    "unit_price": "15.00",
                    "quantity": 1,
                },
            ],
        ),
    ).order
    Shipment.objects.create(
        store=store,
        order=order,
        carrier="DHL",
        tracking_number=f"00340434{number}",
        status="delivered",
        shipped_at=placed + timedelta(days=1),
        delivered_at=clock.now() - timedelta(days=delivered_days_ago),
    )
    return order


def lines_of(order) -> dict[str, str]:
    """sku → lin_… of the order."""
    return {line.sku: line.public_id for line in order.lines.all()}


def state_of(response) -> str:
    """The draft token of a step redirect (303 to /returns/<step>?s=…)."""
    return parse_qs(urlsplit(response["Location"]).query)["s"][0]


def jpeg_bytes(size=(64, 48), color=(200, 30, 30), exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    if exif is not None:
        image.save(out, format="JPEG", exif=exif)
    else:
        image.save(out, format="JPEG")
    return out.getvalue()


def png_bytes(size=(32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 80, 200, 128)).save(out, format="PNG")
    return out.getvalue()
