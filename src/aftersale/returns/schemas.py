"""Input and output shapes for returns: the shopper's choices, and the merchant API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import AwareDatetime, EmailStr, Field, model_validator

from aftersale.core.schemas import StrictSchema
from aftersale.returns.rules import OutcomeCode

ShippingMethodIn = Literal["prepaid_label", "drop_off", "in_store", "none"]
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_PHOTOS_PER_LINE = 5


class ReturnItemIn(StrictSchema):
    line: str = Field(..., min_length=1, max_length=40, description="lin_… of the order")
    quantity: int = Field(..., ge=1, le=10_000)
    reason: str = Field(..., min_length=1, max_length=60, description="a reason code (a leaf)")
    comment: str = Field("", max_length=2000)
    exchange_variant: str | None = Field(
        None, max_length=40, description="var_…; for exchange_same and exchange_other"
    )


class ReturnCreateIn(StrictSchema):
    items: list[ReturnItemIn] = Field(..., min_length=1, max_length=100)
    outcome: OutcomeCode
    shipping_method: ShippingMethodIn = "prepaid_label"
    comment: str = Field("", max_length=2000)
    gift: bool = False
    gift_recipient_email: EmailStr | None = None
    gift_recipient_name: str = Field("", max_length=200)
    sender_postal_code: str = Field("", max_length=20)
    sender_country: str = Field("", max_length=2)
    locale: str = Field("", max_length=10)
    idempotency_key: str = Field(..., min_length=8, max_length=80)
    expected_total: Decimal | None = Field(
        None,
        max_digits=18,
        decimal_places=4,
        description="the total shown to the shopper; refused when it differs from the server's",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ReturnCreateIn:
        lines = [item.line for item in self.items]
        if len(lines) != len(set(lines)):
            raise ValueError("items: each line may appear once")
        if self.gift and not self.gift_recipient_email:
            raise ValueError("gift_recipient_email: a gift return needs the recipient's email")
        return self


@dataclass(frozen=True)
class PhotoIn:
    """A photo already checked by the portal (type sniffed, size and dimensions read)."""

    content: bytes
    content_type: str
    width: int
    height: int
    filename: str = ""


# -- merchant API -----------------------------------------------------------------------------


class ReturnLineOut(Schema):
    id: str
    line_id: str
    sku: str
    title: str
    quantity: int
    reason: str
    reason_group: str
    comment: str
    unit_amount: str
    amount: str
    fee_amount: str
    exchange_variant_id: str | None
    condition: str
    disposition: str
    photos: int


class TransitionOut(Schema):
    from_status: str
    to_status: str
    at: datetime
    actor: str
    actor_label: str
    note: str


class FraudSignalOut(Schema):
    signal: str
    detail: str


class ReturnOut(Schema):
    id: str
    reference: str
    order_id: str
    customer_id: str | None
    status: str
    outcome: str
    shipping_method: str
    refund_timing: str
    is_gift: bool
    currency: str
    items_amount: str
    bonus_amount: str
    fee_amount: str
    exchange_amount: str
    upcharge_amount: str
    total_amount: str
    requires_review: bool
    fraud_flagged: bool
    fraud_signals: list[FraudSignalOut]
    refund_state: str
    refund_id: str | None
    exchange_order_id: str | None
    matched_rules: list[str]
    requested_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    lines: list[ReturnLineOut]
    transitions: list[TransitionOut]


class ReturnPageOut(Schema):
    items: list[ReturnOut]
    next_cursor: str | None


class RejectIn(StrictSchema):
    reason: str = Field(..., min_length=1, max_length=300)


class NoteIn(StrictSchema):
    note: str = Field("", max_length=500)


class InspectLineIn(StrictSchema):
    line: str = Field(..., min_length=1, max_length=40, description="rln_… of the return")
    condition: Literal["new", "like_new", "used", "damaged", "not_received"]
    disposition: Literal["restock", "refurbish", "resell", "donate", "recycle", "discard"]


class InspectIn(StrictSchema):
    lines: list[InspectLineIn] = Field(..., min_length=1, max_length=100)
    notes: str = Field("", max_length=5000)


class RefundConfirmIn(StrictSchema):
    external_id: str = Field(..., min_length=1, max_length=100, description="the platform's id")
    source: str = Field("api", min_length=1, max_length=20, pattern=r"^[a-z0-9_\-]+$")
    amount: Decimal | None = Field(
        None, gt=0, max_digits=18, decimal_places=4, description="default: the return's total"
    )
    processed_at: AwareDatetime | None = None


class CreditCheckIn(StrictSchema):
    code: str = Field(..., min_length=4, max_length=40)


class CreditRedeemIn(StrictSchema):
    code: str = Field(..., min_length=4, max_length=40)
    amount: Decimal = Field(..., gt=0, max_digits=18, decimal_places=4)
    currency: str = Field(..., min_length=3, max_length=3)
    idempotency_key: str = Field(..., min_length=8, max_length=100)
    external_ref: str = Field("", max_length=120, description="the checkout / order id")


class CreditOut(Schema):
    account_id: str
    customer_id: str
    code_last4: str
    currency: str
    balance: str


class CreditEntryOut(Schema):
    id: str
    kind: str
    amount: str
    balance_after: str
    cause: str
    return_id: str | None
    created_at: datetime
    expires_at: datetime | None


class CreditRedeemOut(Schema):
    entry: CreditEntryOut
    balance: str
    currency: str
    created: bool


class CreditAccountOut(CreditOut):
    entries: list[CreditEntryOut]


class RulesOut(Schema):
    version: int
    definition: dict[str, Any]


class RulesPutIn(StrictSchema):
    definition: dict[str, Any]
    expected_version: int | None = Field(
        None, ge=1, description="refused with 409 when the stored version moved on"
    )


class BacktestIn(StrictSchema):
    definition: dict[str, Any] | None = Field(None, description="a draft; default: stored rules")
    placed_from: AwareDatetime | None = None
    placed_to: AwareDatetime | None = None
    days_after_delivery: int | None = Field(
        None, ge=0, le=3650, description="as if asked this many days after delivery; default: now"
    )


class BacktestOutcomeOut(Schema):
    outcome: str
    lines: int


class BacktestOut(Schema):
    orders: int
    orders_eligible: int
    lines: int
    lines_eligible: int
    units_eligible: int
    value_eligible: str
    currency: str
    outcomes: list[BacktestOutcomeOut]
    denials: dict[str, int]
    rules_matched: dict[str, int]
    needs_review: int
    fraud_review: int
    seconds: float
