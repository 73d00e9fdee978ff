"""Writes to the catalog: products and their variants, upserted by external id."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from aftersale.catalog.models import Product, Variant
from aftersale.catalog.schemas import ProductIn, ProductPatchIn, VariantIn
from aftersale.core.models import Store
from aftersale.core.money import quantize
from aftersale.core.services import DomainError, NotFound

PRODUCT_FIELDS = (
    "title",
    "handle",
    "vendor",
    "category",
    "tags",
    "image_url",
    "final_sale",
    "weight_grams",
)


@dataclass(frozen=True)
class ProductResult:
    product: Product
    created: bool
    changed: tuple[str, ...]


def product_get(*, store: Store, ref: str) -> Product:
    qs = Product.objects.filter(store=store)
    product = qs.filter(public_id=ref).first() if ref.startswith("prd_") else None
    if product is None:
        product = qs.filter(external_id=ref).order_by("id").first()
    if product is None:
        raise NotFound(f"no product {ref!r} in this store")
    return product


def _clean(field: str, value):
    if field == "image_url":
        return str(value) if value else ""
    if field == "tags":
        return sorted(set(value or []))
    return value


def product_upsert(*, store: Store, data: ProductIn) -> ProductResult:
    """Create a product (with variants), or update the one with the same (source, external_id)."""
    skus = [v.sku for v in data.variants if v.sku]
    if len(skus) != len(set(skus)):
        raise DomainError("each variant SKU may appear once", field="variants")
    try:
        with transaction.atomic():
            return _product_upsert(store, data)
    except IntegrityError:
        with transaction.atomic():
            return _product_upsert(store, data)


def _product_upsert(store: Store, data: ProductIn) -> ProductResult:
    product = None
    if data.external_id:
        product = (
            Product.objects.select_for_update()
            .filter(store=store, source=data.source, external_id=data.external_id)
            .first()
        )
    created = product is None
    if created:
        product = Product(store=store, source=data.source, external_id=data.external_id)
    changed = []
    for field in PRODUCT_FIELDS:
        value = _clean(field, getattr(data, field))
        if created or getattr(product, field) != value:
            setattr(product, field, value)
            changed.append(field)
    if changed:
        product.save()
    for variant in data.variants:
        if variant_upsert(store=store, product=product, data=variant, source=data.source):
            changed.append("variants")
    return ProductResult(
        product=product, created=created, changed=() if created else tuple(sorted(set(changed)))
    )


def variant_upsert(*, store: Store, product: Product, data: VariantIn, source: str) -> bool:
    """Returns whether anything was written. Matched by external id, then by SKU."""
    qs = Variant.objects.filter(store=store, product=product)
    variant = (
        qs.filter(source=source, external_id=data.external_id).first()
        if (data.external_id)
        else None
    )
    if variant is None and data.sku:
        variant = qs.filter(sku=data.sku).first()
    if (
        variant is None
        and data.sku
        and Variant.objects.filter(store=store, sku=data.sku).exclude(product=product).exists()
    ):
        raise DomainError(f"SKU {data.sku!r} belongs to another product", field="variants")
    values = {
        "sku": data.sku,
        "title": data.title,
        "price": quantize(data.price, store.currency),
        "currency": store.currency,
        "image_url": str(data.image_url) if data.image_url else "",
        "inventory_quantity": data.inventory_quantity,
    }
    if variant is None:
        Variant.objects.create(
            store=store, product=product, source=source, external_id=data.external_id, **values
        )
        return True
    diff = {k: v for k, v in values.items() if getattr(variant, k) != v}
    if diff:
        for k, v in diff.items():
            setattr(variant, k, v)
        variant.save(update_fields=[*diff, "updated_at"])
    return bool(diff)


def product_patch(*, store: Store, product: Product, data: ProductPatchIn) -> Product:
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        changed = []
        for field in data.model_fields_set:
            value = getattr(data, field)
            if value is None and field != "image_url":
                continue
            value = _clean(field, value)
            if getattr(product, field) != value:
                setattr(product, field, value)
                changed.append(field)
        if changed:
            product.save()
    return product
