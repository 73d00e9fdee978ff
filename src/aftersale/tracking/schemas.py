from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field, HttpUrl

from aftersale.core.schemas import StrictSchema
from aftersale.tracking.models import ShipmentStatus


class ShipmentLineIn(StrictSchema):
    """Which order line the parcel carries: by line id (lin_…) or the line's external_id."""

    line: str = Field(..., min_length=1, max_length=100)
    quantity: int = Field(..., ge=1, le=100_000)


class TrackingEventIn(StrictSchema):
    occurred_at: AwareDatetime
    status: ShipmentStatus | None = Field(
        None, description="canonical status when the sender knows it; else derived later"
    )
    raw_status: str = Field("", max_length=100, description="the carrier's own code")
    raw_text: str = Field("", max_length=500)
    location: str = Field("", max_length=200)


class ShipmentIn(StrictSchema):
    """A parcel of an order. Sending the same (source, external_id) again updates it."""

    order: str = Field(..., min_length=1, max_length=100, description="ord_… or external id")
    external_id: str | None = Field(None, max_length=100)
    source: str = Field("api", min_length=1, max_length=20, pattern=r"^[a-z0-9_\-]+$")
    carrier: str = Field("", max_length=60)
    service: str = Field("", max_length=100)
    tracking_number: str = Field("", max_length=100)
    tracking_url: HttpUrl | None = None
    status: ShipmentStatus | None = None
    shipped_at: AwareDatetime | None = None
    promised_delivery_date: date | None = None
    delivered_at: AwareDatetime | None = None
    origin_postal_code: str = Field("", max_length=20)
    origin_city: str = Field("", max_length=100)
    origin_region: str = Field("", max_length=100)
    origin_country: str = Field("", max_length=2)
    lines: list[ShipmentLineIn] = Field(default_factory=list, max_length=1000)
    events: list[TrackingEventIn] = Field(default_factory=list, max_length=1000)
