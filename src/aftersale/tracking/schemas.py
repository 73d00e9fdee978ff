from __future__ import annotations

from datetime import date, datetime

from ninja import Schema
from pydantic import AwareDatetime, Field, HttpUrl

from aftersale.core.schemas import StrictSchema
from aftersale.tracking.models import EventReason, ShipmentStatus


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
    # Left out of model_dump (exclude=True) so that existing exact dumps of mapped events stay
    # as they were; services read the attributes.
    reason: EventReason | None = Field(
        None, description="why, beside the status (customs delay, weather …)", exclude=True
    )
    mapped: bool = Field(
        True,
        description="false when the sender's own code has no canonical status yet",
        exclude=True,
    )


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


class ShipmentLineOut(Schema):
    line_id: str
    quantity: int


class TrackingEventOut(Schema):
    id: str
    occurred_at: datetime
    status: str
    reason: str
    raw_status: str
    raw_text: str
    location: str


class ShipmentOut(Schema):
    id: str
    external_id: str | None
    source: str
    order_id: str
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    status: str
    shipped_at: datetime | None
    promised_delivery_date: date | None
    delivered_at: datetime | None
    origin: dict
    destination: dict
    lines: list[ShipmentLineOut]
    events: list[TrackingEventOut]
    created_at: datetime
    updated_at: datetime


class TrackingEventsIn(StrictSchema):
    events: list[TrackingEventIn] = Field(..., min_length=1, max_length=1000)


def shipment_out(shipment) -> dict:
    """Expects lines (with order_line) and events to be prefetched."""
    return {
        "id": shipment.public_id,
        "order_id": shipment.order.public_id,
        **{
            k: getattr(shipment, k)
            for k in (
                "external_id",
                "source",
                "carrier",
                "service",
                "tracking_number",
                "tracking_url",
                "status",
                "shipped_at",
                "promised_delivery_date",
                "delivered_at",
                "created_at",
                "updated_at",
            )
        },
        "origin": {
            "postal_code": shipment.origin_postal_code,
            "city": shipment.origin_city,
            "region": shipment.origin_region,
            "country": shipment.origin_country,
        },
        "destination": {
            "postal_code": shipment.destination_postal_code,
            "city": shipment.destination_city,
            "region": shipment.destination_region,
            "country": shipment.destination_country,
        },
        "lines": [
            {"line_id": sl.order_line.public_id, "quantity": sl.quantity}
            for sl in shipment.lines.all()
        ],
        "events": [
            {
                "id": e.public_id,
                "occurred_at": e.occurred_at,
                "status": e.status,
                "reason": e.reason,
                "raw_status": e.raw_status,
                "raw_text": e.raw_text,
                "location": e.location,
            }
            for e in shipment.events.all()
        ],
    }
