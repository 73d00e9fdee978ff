from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ninja import Schema
from pydantic import Field, HttpUrl

from aftersale.core.schemas import StrictSchema


class VariantIn(StrictSchema):
    external_id: str | None = Field(None, max_length=100)
    sku: str = Field("", max_length=100)
    title: str = Field("", max_length=300)
    price: Decimal = Field(..., ge=0, max_digits=18, decimal_places=4)
    image_url: HttpUrl | None = None
    inventory_quantity: int | None = None


class ProductIn(StrictSchema):
    external_id: str | None = Field(None, max_length=100)
    source: str = Field("api", min_length=1, max_length=20, pattern=r"^[a-z0-9_\-]+$")
    title: str = Field(..., min_length=1, max_length=300)
    handle: str = Field("", max_length=200)
    vendor: str = Field("", max_length=200)
    category: str = Field("", max_length=200)
    tags: list[str] = Field(default_factory=list)
    image_url: HttpUrl | None = None
    final_sale: bool = False
    weight_grams: int | None = Field(None, ge=0)
    variants: list[VariantIn] = Field(default_factory=list, max_length=500)


class ProductPatchIn(StrictSchema):
    title: str | None = Field(None, min_length=1, max_length=300)
    handle: str | None = Field(None, max_length=200)
    vendor: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=200)
    tags: list[str] | None = None
    image_url: HttpUrl | None = None
    final_sale: bool | None = None


class VariantOut(Schema):
    id: str
    external_id: str | None
    sku: str
    title: str
    price: str
    currency: str
    image_url: str
    inventory_quantity: int | None


class ProductOut(Schema):
    id: str
    external_id: str | None
    source: str
    title: str
    handle: str
    vendor: str
    category: str
    tags: list[str]
    image_url: str
    final_sale: bool
    weight_grams: int | None
    variants: list[VariantOut]
    created_at: datetime
    updated_at: datetime


def product_out(product) -> dict:
    from aftersale.core.money import quantize

    return {
        "id": product.public_id,
        **{
            k: getattr(product, k)
            for k in (
                "external_id",
                "source",
                "title",
                "handle",
                "vendor",
                "category",
                "tags",
                "image_url",
                "final_sale",
                "weight_grams",
                "created_at",
                "updated_at",
            )
        },
        "variants": [
            {
                "id": v.public_id,
                "external_id": v.external_id,
                "sku": v.sku,
                "title": v.title,
                "price": str(quantize(v.price, v.currency)),
                "currency": v.currency,
                "image_url": v.image_url,
                "inventory_quantity": v.inventory_quantity,
            }
            for v in product.variants.all()
        ],
    }
