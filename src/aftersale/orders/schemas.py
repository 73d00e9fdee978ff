from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import AwareDatetime, EmailStr, Field, field_validator, model_validator

from aftersale.core.money import MoneyError, normalize_currency, quantize
from aftersale.core.schemas import StrictSchema
from aftersale.customers.schemas import AddressIn, AddressOut, CustomerIn, address_out

Money = Decimal  # documented as a decimal string or number; quantized to the currency on save

OrderStatus = Literal["open", "closed", "cancelled"]
FinancialStatus = Literal[
    "pending", "authorized", "paid", "partially_paid", "partially_refunded", "refunded", "voided"
]
FulfillmentStatus = Literal["unfulfilled", "partial", "fulfilled"]
Channel = Literal["online", "in_store"]


class OrderLineIn(StrictSchema):
    external_id: str | None = Field(
        None, max_length=100, description="the platform's line id; lines are matched by it"
    )
    sku: str = Field("", max_length=100)
    title: str = Field(..., min_length=1, max_length=300)
    variant_title: str = Field("", max_length=300)
    product_external_id: str | None = Field(None, max_length=100)
    variant_external_id: str | None = Field(None, max_length=100)
    unit_price: Money = Field(..., ge=0, max_digits=18, decimal_places=4)
    quantity: int = Field(..., ge=1, le=100_000)
    discount: Money = Field(Decimal("0"), ge=0, max_digits=18, decimal_places=4)
    requires_shipping: bool = True


class OrderIn(StrictSchema):
    """An order as the shop knows it. Sending the same external_id again updates that order."""

    external_id: str = Field(..., min_length=1, max_length=100)
    number: str | None = Field(None, max_length=60, description="shown to shoppers; default id")
    source: str = Field("api", min_length=1, max_length=20, pattern=r"^[a-z0-9_\-]+$")
    status: OrderStatus = "open"
    financial_status: FinancialStatus = "paid"
    fulfillment_status: FulfillmentStatus | None = None
    channel: Channel = "online"
    currency: str | None = Field(None, description="ISO 4217; default: the store's currency")
    subtotal: Money | None = Field(None, ge=0, max_digits=18, decimal_places=4)
    discount_total: Money = Field(Decimal("0"), ge=0, max_digits=18, decimal_places=4)
    shipping_total: Money = Field(Decimal("0"), ge=0, max_digits=18, decimal_places=4)
    tax_total: Money = Field(Decimal("0"), ge=0, max_digits=18, decimal_places=4)
    total: Money | None = Field(None, ge=0, max_digits=18, decimal_places=4)
    discount_codes: list[str] = Field(default_factory=list)
    placed_at: AwareDatetime = Field(..., description="with a UTC offset, e.g. 2026-05-01T10:00Z")
    cancelled_at: AwareDatetime | None = None
    cancel_reason: str = Field("", max_length=200)
    customer: CustomerIn | None = None
    email: EmailStr | None = None
    shipping_address: AddressIn | None = None
    billing_address: AddressIn | None = None
    tags: list[str] = Field(default_factory=list)
    note: str = Field("", max_length=5000)
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=1000)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_currency(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _line_ids_unique(self) -> OrderIn:
        ids = [line.external_id for line in self.lines if line.external_id]
        if len(ids) != len(set(ids)):
            raise ValueError("lines: each line external_id may appear once")
        return self


class OrderPatchIn(StrictSchema):
    """Partial update: only the fields sent are changed."""

    number: str | None = Field(None, max_length=60)
    status: OrderStatus | None = None
    financial_status: FinancialStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None
    email: EmailStr | None = None
    shipping_address: AddressIn | None = None
    tags: list[str] | None = None
    note: str | None = Field(None, max_length=5000)


class OrderCancelIn(StrictSchema):
    reason: str = Field("", max_length=200)
    cancelled_at: datetime | None = None


class RefundLineIn(StrictSchema):
    line: str = Field(..., min_length=1, max_length=100, description="lin_… or line external_id")
    quantity: int = Field(..., ge=1, le=100_000)
    amount: Money | None = Field(None, ge=0, max_digits=18, decimal_places=4)
    restock: bool = False


class RefundIn(StrictSchema):
    external_id: str | None = Field(None, max_length=100)
    source: str = Field("api", min_length=1, max_length=20, pattern=r"^[a-z0-9_\-]+$")
    amount: Money | None = Field(
        None, gt=0, max_digits=18, decimal_places=4, description="default: sum of line amounts"
    )
    currency: str | None = None
    reason: str = Field("", max_length=200)
    note: str = Field("", max_length=5000)
    processed_at: AwareDatetime | None = None
    lines: list[RefundLineIn] = Field(default_factory=list, max_length=1000)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_currency(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None


class OrderLineOut(Schema):
    id: str
    external_id: str
    sku: str
    title: str
    variant_title: str
    product_id: str | None
    variant_id: str | None
    unit_price: str
    quantity: int
    discount: str
    total: str
    requires_shipping: bool


class OrderCustomerOut(Schema):
    id: str
    email: str
    first_name: str
    last_name: str


class OrderShipmentOut(Schema):
    id: str
    carrier: str
    tracking_number: str
    status: str


class RefundOut(Schema):
    id: str
    external_id: str | None
    order_id: str
    amount: str
    currency: str
    reason: str
    note: str
    processed_at: datetime
    lines: list[dict]


class OrderOut(Schema):
    id: str
    external_id: str
    source: str
    number: str
    status: str
    financial_status: str
    fulfillment_status: str
    channel: str
    currency: str
    subtotal: str
    discount_total: str
    shipping_total: str
    tax_total: str
    total: str
    discount_codes: list[str]
    placed_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str
    customer: OrderCustomerOut | None
    email: str
    shipping_address: AddressOut | None
    billing_address: AddressOut | None
    tags: list[str]
    note: str
    lines: list[OrderLineOut]
    shipments: list[OrderShipmentOut]
    refunds: list[RefundOut]
    created_at: datetime
    updated_at: datetime


MONEY_FIELDS = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")


def refund_out(refund) -> dict:
    currency = refund.currency
    return {
        "id": refund.public_id,
        "external_id": refund.external_id,
        "order_id": refund.order.public_id,
        "amount": str(quantize(refund.amount, currency)),
        "currency": currency,
        "reason": refund.reason,
        "note": refund.note,
        "processed_at": refund.processed_at,
        "lines": [
            {
                "line_id": rl.order_line.public_id,
                "quantity": rl.quantity,
                "amount": str(quantize(rl.amount, currency)),
                "restock": rl.restock,
            }
            for rl in refund.lines.all()
        ],
    }


def _utc(value: datetime | None) -> datetime | None:
    # Read back from the database a time is in UTC; one just written may still carry the offset
    # it was sent with. The answer is the same either way.
    return value.astimezone(UTC) if value is not None else None


def order_out(order, *, lines=None, shipments=None, refunds=None) -> dict:
    """The API shape of an order. Reads lines, shipments and refunds from the order's prefetched
    relations, or from the lists given (an order just created passes what it wrote)."""
    currency = order.currency
    data = {
        "id": order.public_id,
        **{
            k: getattr(order, k)
            for k in (
                "external_id",
                "source",
                "number",
                "status",
                "financial_status",
                "fulfillment_status",
                "channel",
                "currency",
                "discount_codes",
                "cancel_reason",
                "email",
                "tags",
                "note",
            )
        },
        **{
            k: _utc(getattr(order, k))
            for k in ("placed_at", "cancelled_at", "created_at", "updated_at")
        },
        **{k: str(quantize(getattr(order, k), currency)) for k in MONEY_FIELDS},
        "customer": (
            {
                "id": order.customer.public_id,
                "email": order.customer.email,
                "first_name": order.customer.first_name,
                "last_name": order.customer.last_name,
            }
            if order.customer_id
            else None
        ),
        "shipping_address": address_out(order.shipping_address),
        "billing_address": address_out(order.billing_address),
        "lines": [
            {
                "id": line.public_id,
                "external_id": line.external_id,
                "sku": line.sku,
                "title": line.title,
                "variant_title": line.variant_title,
                "product_id": line.product.public_id if line.product_id else None,
                "variant_id": line.variant.public_id if line.variant_id else None,
                "unit_price": str(quantize(line.unit_price, currency)),
                "quantity": line.quantity,
                "discount": str(quantize(line.discount, currency)),
                "total": str(quantize(line.total, currency)),
                "requires_shipping": line.requires_shipping,
            }
            for line in (order.lines.all() if lines is None else lines)
        ],
        # Shipments belong to a higher layer; the reverse relation is read, never imported.
        "shipments": [
            {
                "id": s.public_id,
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "status": s.status,
            }
            for s in (order.shipments.all() if shipments is None else shipments)
        ],
        "refunds": [refund_out(r) for r in (order.refunds.all() if refunds is None else refunds)],
    }
    return data
