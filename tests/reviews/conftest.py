from __future__ import annotations

import io

import pytest
from PIL import Image

from aftersale.catalog.models import Product, Variant
from aftersale.customers.models import Customer
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    # Photos go to <MEDIA_ROOT>/../private: a temporary folder per test.
    settings.MEDIA_ROOT = str(tmp_path / "media")


def make_order(store, *, number: str = "1001", locale: str = "en", email: str = "ana@example.com"):
    """An order of two products (Trail Mug ×2, Wool Socks) by Ana Souza."""
    customer = Customer.objects.filter(store=store, email=email).first() or (
        Customer.objects.create(
            store=store, email=email, first_name="Ana", last_name="Souza", locale=locale
        )
    )
    data = {
        "external_id": number,
        "number": f"#{number}",
        "placed_at": "2026-11-18T10:00:00Z",
        "email": customer.email,
        "customer": {"email": customer.email},
        "lines": [
            {"title": "Trail Mug", "unit_price": "19.90", "quantity": 2, "sku": "MUG-1"},
            {"title": "Wool Socks", "variant_title": "M", "unit_price": "12.50", "quantity": 1},
        ],
    }
    order = order_upsert(store=store, data=OrderIn(**data)).order
    for line in order.lines.all():
        handle = "trail-mug" if line.sku else "wool-socks"
        product = Product.objects.filter(store=store, handle=handle).first()
        if product is None:
            product = Product.objects.create(store=store, title=line.title, handle=handle)
            Variant.objects.create(
                store=store,
                product=product,
                sku=line.sku or "SOCK-M",
                price=line.unit_price,
                currency=store.currency,
            )
        line.product = product
        line.save(update_fields=["product"])
    return order


@pytest.fixture
def order(store):
    return make_order(store)


def products_of(order) -> tuple[Product, Product]:
    lines = list(order.lines.order_by("id"))
    return lines[0].product, lines[1].product


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()
