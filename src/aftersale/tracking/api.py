from __future__ import annotations

from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from aftersale.core.auth import require_write
from aftersale.core.pagination import paginate
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS
from aftersale.tracking.models import ShipmentStatus
from aftersale.tracking.schemas import ShipmentIn, ShipmentOut, TrackingEventsIn, shipment_out
from aftersale.tracking.selectors import shipment_detail, shipment_list
from aftersale.tracking.services import shipment_get, shipment_upsert, tracking_events_add

router = Router(tags=["shipments"])


class ShipmentWriteOut(Schema):
    result: str
    shipment: ShipmentOut


class ShipmentPage(Schema):
    data: list[ShipmentOut]
    next_cursor: str | None


class ShipmentFilters(Schema):
    status: ShipmentStatus | None = None
    order: str | None = Field(None, description="an order id, ord_…")
    updated_since: AwareDatetime | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class EventsAddedOut(Schema):
    added: int
    shipment: ShipmentOut


@router.post(
    "",
    response={200: ShipmentWriteOut, 201: ShipmentWriteOut, **WRITE_ERRORS},
    summary="Create or update a shipment",
)
def create_shipment(request, payload: ShipmentIn):
    """A parcel of an order, with the order lines it carries and any tracking events so far.
    Upsert by (source, external_id)."""
    require_write(request)
    result = shipment_upsert(store=request.store, data=payload)
    outcome = "created" if result.created else ("updated" if result.changed else "unchanged")
    shipment = shipment_detail(store=request.store, shipment=result.shipment)
    return Status(
        201 if result.created else 200, {"result": outcome, "shipment": shipment_out(shipment)}
    )


@router.get("", response={200: ShipmentPage, **READ_ERRORS}, summary="List shipments")
def list_shipments(request, filters: Query[ShipmentFilters]):
    qs = shipment_list(
        store=request.store,
        status=filters.status,
        order=filters.order,
        updated_since=filters.updated_since,
    )
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"data": [shipment_out(s) for s in rows], "next_cursor": next_cursor}


@router.get("/{ref}", response={200: ShipmentOut, **READ_ERRORS}, summary="Get a shipment")
def get_shipment(request, ref: str):
    """`ref` is the shipment id (shp_…) or its external id."""
    shipment = shipment_get(store=request.store, ref=ref)
    return shipment_out(shipment_detail(store=request.store, shipment=shipment))


@router.post(
    "/{ref}/events", response={200: EventsAddedOut, **WRITE_ERRORS}, summary="Add tracking events"
)
def add_events(request, ref: str, payload: TrackingEventsIn):
    """Carrier scans; an event sent twice is stored once. Events are placed by their own time."""
    require_write(request)
    shipment = shipment_get(store=request.store, ref=ref)
    added = tracking_events_add(store=request.store, shipment=shipment, events=payload.events)
    shipment = shipment_detail(store=request.store, shipment=shipment)
    return {"added": added, "shipment": shipment_out(shipment)}
