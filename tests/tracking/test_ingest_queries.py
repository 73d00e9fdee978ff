"""Query counts of the carrier-scan hot path: ingest (tracking_events_add) and the dispatch of
what it emits (journeys enrolment, webhook fan-out). See bench/tracking_events.py."""

from __future__ import annotations

import datetime as dt
from datetime import UTC

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersale.core.events import dispatch_pending
from aftersale.core.models import OutboxEvent
from aftersale.journeys.builtin import ensure_builtin_flows
from aftersale.journeys.models import Enrolment
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.models import Shipment, ShipmentIssue, ShipmentStatus, TrackingEvent
from aftersale.tracking.schemas import ShipmentIn, TrackingEventIn
from aftersale.tracking.services import shipment_upsert, tracking_events_add

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(at(18, 12), tick=False)
    return time_machine


def ship(store, n: int = 1) -> Shipment:
    order = order_upsert(
        store=store,
        data=OrderIn(
            external_id=f"o{n}",
            number=f"#{n}",
            placed_at="2026-11-16T10:00:00Z",
            email=f"ana{n}@example.com",
            lines=[{"external_id": "a", "title": "Boots", "unit_price": "120", "quantity": 1}],
        ),
    ).order
    data = ShipmentIn(
        order=order.public_id,
        external_id=f"p{n}",
        carrier="DHL",
        shipped_at="2026-11-17T10:00:00Z",
        promised_delivery_date="2026-11-24",
    )
    return shipment_upsert(store=store, data=data).shipment


def scan(when: dt.datetime, status: str, **extra) -> TrackingEventIn:
    return TrackingEventIn(
        occurred_at=when, status=status, raw_status=status.upper(), location="Hub", **extra
    )


def add(shipment: Shipment, *events: TrackingEventIn) -> int:
    return tracking_events_add(store=shipment.store, shipment=shipment, events=list(events))


def test_a_plain_transit_scan_costs_seven_queries(store, now, django_assert_num_queries):
    shipment = ship(store)
    add(shipment, scan(at(17, 14), ShipmentStatus.IN_TRANSIT))

    # savepoint, lock, the shipment's events, insert, last_event_at, open issues, release: the
    # status, the newest scan and "no issue" are derived without asking again.
    with django_assert_num_queries(7):
        assert add(shipment, scan(at(18, 9), ShipmentStatus.IN_TRANSIT)) == 1

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert shipment.last_event_at == at(18, 9)
    assert not ShipmentIssue.objects.filter(shipment=shipment).exists()


def test_a_repeated_webhook_stores_nothing_in_four_queries(store, now, django_assert_num_queries):
    shipment = ship(store)
    events = [scan(at(17, 14), ShipmentStatus.IN_TRANSIT), scan(at(18, 9), "out_for_delivery")]
    add(shipment, *events)
    outbox = OutboxEvent.objects.count()

    with django_assert_num_queries(4):  # savepoint, lock, the shipment's events, release
        assert add(shipment, *events) == 0

    assert TrackingEvent.objects.filter(shipment=shipment).count() == 2
    assert OutboxEvent.objects.count() == outbox


def test_status_and_newest_scan_come_from_one_read_of_the_events(store, now):
    shipment = ship(store)
    add(
        shipment,
        scan(at(17, 14), ShipmentStatus.IN_TRANSIT),
        scan(at(18, 9), ShipmentStatus.DELIVERED),
    )
    # A late in-transit scan (older by its own time, newer by arrival) never undoes delivered,
    # and an unmapped newer scan does not beat a mapped one.
    with CaptureQueriesContext(connection) as ctx:
        add(
            shipment,
            scan(at(17, 20), ShipmentStatus.IN_TRANSIT),
            TrackingEventIn(occurred_at=at(18, 11), raw_status="XYZ", mapped=False),
        )
    reads = [q for q in ctx.captured_queries if 'FROM "tracking_trackingevent"' in q["sql"]]
    assert len(reads) == 1

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.delivered_at == at(18, 9)
    assert shipment.last_event_at == at(18, 11)


def test_an_exception_is_raised_once_and_resolved_when_the_parcel_moves(store, now):
    shipment = ship(store)
    add(shipment, scan(at(17, 14), ShipmentStatus.EXCEPTION, reason="address_problem"))
    add(shipment, scan(at(17, 15), ShipmentStatus.EXCEPTION, reason="address_problem"))

    assert OutboxEvent.objects.filter(name="shipment.exception").count() == 1
    issue = ShipmentIssue.objects.get(shipment=shipment, kind="exception")
    assert issue.resolved_at is None

    add(shipment, scan(at(18, 9), ShipmentStatus.IN_TRANSIT))
    issue.refresh_from_db()
    assert issue.resolved_at is not None
    assert OutboxEvent.objects.filter(name="shipment.exception").count() == 1


def _reads_of(ctx: CaptureQueriesContext, table: str) -> int:
    return sum(
        1
        for q in ctx.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    )


def test_dispatch_reads_flows_and_webhook_endpoints_once_per_batch(store, now):
    ensure_builtin_flows(store)
    shipments = [ship(store, n) for n in range(1, 5)]
    dispatch_pending()  # shipment.created and the orders' events
    for shipment in shipments:
        add(shipment, scan(at(18, 9), "out_for_delivery"))
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 4

    with CaptureQueriesContext(connection) as ctx:
        assert dispatch_pending() == 4

    assert _reads_of(ctx, "webhooks_webhookendpoint") == 1
    # The flows starting on shipment.updated, and the built-in check: once each, not per event.
    assert _reads_of(ctx, "journeys_flow") == 2
    assert Enrolment.objects.filter(flow__key="out-for-delivery").count() == 4
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
