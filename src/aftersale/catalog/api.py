from __future__ import annotations

from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from aftersale.catalog.schemas import ProductIn, ProductOut, ProductPatchIn, VariantIn, product_out
from aftersale.catalog.selectors import product_detail, product_list
from aftersale.catalog.services import product_get, product_patch, product_upsert, variant_upsert
from aftersale.core.auth import require_write
from aftersale.core.pagination import paginate
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS

router = Router(tags=["products"])


class ProductWriteOut(Schema):
    result: str
    product: ProductOut


class ProductPage(Schema):
    data: list[ProductOut]
    next_cursor: str | None


class ProductFilters(Schema):
    category: str | None = None
    updated_since: AwareDatetime | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.post(
    "",
    response={200: ProductWriteOut, 201: ProductWriteOut, **WRITE_ERRORS},
    summary="Create or update a product",
)
def create_product(request, payload: ProductIn):
    """Upsert by (source, external_id), with its variants (matched by external id, then SKU)."""
    require_write(request)
    result = product_upsert(store=request.store, data=payload)
    outcome = "created" if result.created else ("updated" if result.changed else "unchanged")
    product = product_detail(store=request.store, product=result.product)
    return Status(
        201 if result.created else 200, {"result": outcome, "product": product_out(product)}
    )


@router.get("", response={200: ProductPage, **READ_ERRORS}, summary="List products")
def list_products(request, filters: Query[ProductFilters]):
    qs = product_list(
        store=request.store, category=filters.category, updated_since=filters.updated_since
    )
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"data": [product_out(p) for p in rows], "next_cursor": next_cursor}


@router.get("/{ref}", response={200: ProductOut, **READ_ERRORS}, summary="Get a product")
def get_product(request, ref: str):
    product = product_get(store=request.store, ref=ref)
    return product_out(product_detail(store=request.store, product=product))


@router.patch("/{ref}", response={200: ProductOut, **WRITE_ERRORS}, summary="Update a product")
def patch_product(request, ref: str, payload: ProductPatchIn):
    require_write(request)
    product = product_get(store=request.store, ref=ref)
    product = product_patch(store=request.store, product=product, data=payload)
    return product_out(product_detail(store=request.store, product=product))


@router.post(
    "/{ref}/variants",
    response={200: ProductOut, 201: ProductOut, **WRITE_ERRORS},
    summary="Add or update a variant",
)
def upsert_variant(request, ref: str, payload: VariantIn):
    require_write(request)
    product = product_get(store=request.store, ref=ref)
    existed = (
        product.variants.filter(external_id=payload.external_id).exists()
        if (payload.external_id)
        else product.variants.filter(sku=payload.sku).exists()
    )
    variant_upsert(store=request.store, product=product, data=payload, source=product.source)
    return Status(
        200 if existed else 201, product_out(product_detail(store=request.store, product=product))
    )
