from __future__ import annotations

from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from aftersale.core.auth import require_write
from aftersale.core.pagination import paginate
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS
from aftersale.customers.schemas import CustomerIn, CustomerOut, CustomerPatchIn, customer_out
from aftersale.customers.selectors import customer_list
from aftersale.customers.services import customer_get, customer_patch, customer_upsert

router = Router(tags=["customers"])


class CustomerWriteOut(Schema):
    result: str
    customer: CustomerOut


class CustomerPage(Schema):
    data: list[CustomerOut]
    next_cursor: str | None


class CustomerFilters(Schema):
    email: str | None = None
    updated_since: AwareDatetime | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.post(
    "",
    response={200: CustomerWriteOut, 201: CustomerWriteOut, **WRITE_ERRORS},
    summary="Create or update a customer",
)
def create_customer(request, payload: CustomerIn):
    """Matched by (source, external_id), then by email; the answer says which happened."""
    require_write(request)
    customer, created = customer_upsert(store=request.store, data=payload)
    return Status(
        201 if created else 200,
        {
            "result": "created" if created else "updated",
            "customer": customer_out(customer),
        },
    )


@router.get("", response={200: CustomerPage, **READ_ERRORS}, summary="List customers")
def list_customers(request, filters: Query[CustomerFilters]):
    qs = customer_list(
        store=request.store, email=filters.email, updated_since=filters.updated_since
    )
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"data": [customer_out(c) for c in rows], "next_cursor": next_cursor}


@router.get("/{ref}", response={200: CustomerOut, **READ_ERRORS}, summary="Get a customer")
def get_customer(request, ref: str):
    """`ref` is the customer id (cus_…) or its external id."""
    return customer_out(customer_get(store=request.store, ref=ref))


@router.patch("/{ref}", response={200: CustomerOut, **WRITE_ERRORS}, summary="Update a customer")
def patch_customer(request, ref: str, payload: CustomerPatchIn):
    require_write(request)
    customer = customer_get(store=request.store, ref=ref)
    return customer_out(customer_patch(store=request.store, customer=customer, data=payload))
