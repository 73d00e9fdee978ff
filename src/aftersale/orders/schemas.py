from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, EmailStr, Field, field_validator, model_validator

from aftersale.core.money import MoneyError, normalize_currency
from aftersale.core.schemas import StrictSchema
from aftersale.customers.schemas import AddressIn, CustomerIn

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
