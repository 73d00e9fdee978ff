from __future__ import annotations

from typing import Any, Literal

from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from aftersale.core.auth import require_write
from aftersale.core.pagination import paginate
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS
from aftersale.orders.batch import MAX_BATCH, order_upsert_batch
from aftersale.orders.schemas import (
    OrderCancelIn,
    OrderIn,
    OrderOut,
    OrderPatchIn,
    RefundIn,
    RefundOut,
    order_out,
    refund_out,
)
from aftersale.orders.selectors import order_detail, order_list
from aftersale.orders.services import (
    order_cancel,
    order_get,
    order_patch,
    order_upsert,
    refund_create,
)

router = Router(tags=["orders"])


class OrderWriteOut(Schema):
    result: Literal["created", "updated", "unchanged"]
    order: OrderOut


class OrderPage(Schema):
    data: list[OrderOut]
    next_cursor: str | None


class OrderFilters(Schema):
    status: Literal["open", "closed", "cancelled"] | None = None
    customer: str | None = Field(None, description="a customer id, cus_…")
    updated_since: AwareDatetime | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class BatchIn(Schema):
    orders: list[dict[str, Any]] = Field(..., max_length=MAX_BATCH)


class BatchItemError(Schema):
    detail: str
    field: str | None


class BatchItemOut(Schema):
    index: int
    external_id: str | None
    result: Literal["created", "updated", "unchanged", "error"]
    id: str | None = None
    error: BatchItemError | None = None


class BatchOut(Schema):
    created: int
    updated: int
    unchanged: int
    errors: int
    results: list[BatchItemOut]


class RefundWriteOut(Schema):
    result: Literal["created", "existing"]
    refund: RefundOut


@router.post(
    "",
    response={200: OrderWriteOut, 201: OrderWriteOut, **WRITE_ERRORS},
    summary="Create or update an order",
)
def create_order(request, payload: OrderIn):
    """Upsert by (source, external_id): 201 when created, 200 when it existed (updated or not)."""
    require_write(request)
    result = order_upsert(store=request.store, data=payload)
    if result.created:
        # A new order has no shipments or refunds yet; answer from the rows just written.
        body = order_out(result.order, lines=result.lines, shipments=[], refunds=[])
        return Status(201, {"result": "created", "order": body})
    outcome = "updated" if result.changed else "unchanged"
    order = order_detail(store=request.store, order=result.order)
    return Status(200, {"result": outcome, "order": order_out(order)})


@router.post(
    "/batch",
    response={200: BatchOut, **WRITE_ERRORS},
    summary="Create or update up to 1,000 orders",
)
def batch_orders(request, payload: BatchIn):
    """Each order is answered on its own: one bad order does not block the others and leaves
    nothing of itself written."""
    require_write(request)
    results = order_upsert_batch(store=request.store, items=payload.orders)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "error": 0}
    for item in results:
        counts[item.result] += 1
    return {
        "created": counts["created"],
        "updated": counts["updated"],
        "unchanged": counts["unchanged"],
        "errors": counts["error"],
        "results": [
            {
                "index": r.index,
                "external_id": r.external_id,
                "result": r.result,
                "id": r.order.public_id if r.order else None,
                "error": r.error,
            }
            for r in results
        ],
    }


@router.get("", response={200: OrderPage, **READ_ERRORS}, summary="List orders")
def list_orders(request, filters: Query[OrderFilters]):
    """Oldest change first; follow `next_cursor` until it is null."""
    qs = order_list(
        store=request.store,
        status=filters.status,
        customer=filters.customer,
        updated_since=filters.updated_since,
    )
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"data": [order_out(o) for o in rows], "next_cursor": next_cursor}


@router.get("/{ref}", response={200: OrderOut, **READ_ERRORS}, summary="Get an order")
def get_order(request, ref: str):
    """`ref` is the order id (ord_…) or its external id."""
    order = order_get(store=request.store, ref=ref)
    return order_out(order_detail(store=request.store, order=order))


@router.patch("/{ref}", response={200: OrderOut, **WRITE_ERRORS}, summary="Update an order")
def patch_order(request, ref: str, payload: OrderPatchIn):
    """Only the fields sent change."""
    require_write(request)
    order = order_get(store=request.store, ref=ref)
    order = order_patch(store=request.store, order=order, data=payload)
    return order_out(order_detail(store=request.store, order=order))


@router.post("/{ref}/cancel", response={200: OrderOut, **WRITE_ERRORS}, summary="Cancel an order")
def cancel_order(request, ref: str, payload: OrderCancelIn):
    """Cancelling a cancelled order changes nothing."""
    require_write(request)
    order = order_get(store=request.store, ref=ref)
    order = order_cancel(
        store=request.store, order=order, reason=payload.reason, cancelled_at=payload.cancelled_at
    )
    return order_out(order_detail(store=request.store, order=order))


@router.post(
    "/{ref}/refunds",
    response={200: RefundWriteOut, 201: RefundWriteOut, **WRITE_ERRORS},
    summary="Record a refund",
)
def create_refund(request, ref: str, payload: RefundIn):
    """201 when recorded; 200 when a refund with this (source, external_id) already was."""
    require_write(request)
    order = order_get(store=request.store, ref=ref)
    result = refund_create(store=request.store, order=order, data=payload)
    refund = order_detail(store=request.store, order=order).refunds.get(pk=result.refund.pk)
    return Status(
        201 if result.created else 200,
        {
            "result": "created" if result.created else "existing",
            "refund": refund_out(refund),
        },
    )


@router.get(
    "/{ref}/refunds",
    response={200: list[RefundOut], **READ_ERRORS},
    summary="List an order's refunds",
)
def list_refunds(request, ref: str):
    order = order_detail(store=request.store, order=order_get(store=request.store, ref=ref))
    return [refund_out(r) for r in order.refunds.all()]
