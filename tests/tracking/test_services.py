from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aftersale.core.models import OutboxEvent
from aftersale.core.services import DomainError
from aftersale.orders.models import Order
from aftersale.orders.schemas import OrderIn, RefundIn
from aftersale.orders.services import order_upsert, refund_create
from aftersale.tracking.schemas import ShipmentIn, TrackingEventIn
from aftersale.tracking.services import shipment_upsert, tracking_events_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(store):
    data = OrderIn(
        external_id="5001",
        placed_at="2026-03-01T10:00:00Z",
        email="bo@example.com",
        lines=[
            {"external_id": "a", "title": "Boots", "unit_price": "120", "quantity": 1},
            {"external_id": "b", "title": "Socks", "unit_price": "5", "quantity": 3},
        ],
    )
    return order_upsert(store=store, data=data).order


def scan(day: int, status: str, raw: str = "X") -> dict:
    return {
        "occurred_at": datetime(2026, 3, day, 12, tzinfo=UTC).isoformat(),
        "status": status,
        "raw_status": raw,
    }


def test_partial_then_full_shipment_moves_fulfilment(store, order):
    shipment_upsert(
        store=store,
        data=ShipmentIn(
            order=order.public_id,
            external_id="f1",
            carrier="dhl",
            tracking_number="123",
            lines=[{"line": "a", "quantity": 1}],
        ),
    )
    order.refresh_from_db()
    assert order.fulfillment_status == Order.FulfillmentStatus.PARTIAL

    shipment_upsert(
        store=store,
        data=ShipmentIn(
            order="5001",
            external_id="f2",
            lines=[{"line": "b", "quantity": 3}],
        ),
    )
    order.refresh_from_db()
    assert order.fulfillment_status == Order.FulfillmentStatus.FULFILLED


def test_shipping_more_than_ordered_is_refused_and_writes_nothing(store, order):
    with pytest.raises(DomainError) as err:
        shipment_upsert(
            store=store,
            data=ShipmentIn(
                order=order.public_id,
                external_id="f1",
                lines=[{"line": "b", "quantity": 4}],
            ),
        )
    assert err.value.field == "lines.0.quantity"
    assert not order.shipments.exists()


def test_late_in_transit_scan_never_undoes_delivered(store, order):
    result = shipment_upsert(
        store=store,
        data=ShipmentIn(
            order=order.public_id,
            external_id="f1",
            events=[scan(2, "in_transit"), scan(4, "delivered", "DL")],
        ),
    )
    shipment = result.shipment
    assert shipment.status == "delivered"

    added = tracking_events_add(
        store=store, shipment=shipment, events=[TrackingEventIn(**scan(3, "in_transit", "late"))]
    )
    again = tracking_events_add(
        store=store, shipment=shipment, events=[TrackingEventIn(**scan(3, "in_transit", "late"))]
    )
    shipment.refresh_from_db()
    assert (added, again) == (1, 0)
    assert shipment.status == "delivered"
    assert shipment.delivered_at == datetime(2026, 3, 4, 12, tzinfo=UTC)


def test_refund_over_what_is_left_is_refused(store, order):
    refund_create(store=store, order=order, data=RefundIn(external_id="r1", amount="100"))
    with pytest.raises(DomainError) as err:
        refund_create(store=store, order=order, data=RefundIn(external_id="r2", amount="50"))
    assert err.value.field == "amount"
    again = refund_create(store=store, order=order, data=RefundIn(external_id="r1", amount="100"))
    order.refresh_from_db()
    assert again.created is False
    assert order.financial_status == "partially_refunded"
    assert OutboxEvent.objects.filter(name="refund.created").count() == 1


def test_refund_lines_default_to_their_share(store, order):
    result = refund_create(
        store=store, order=order, data=RefundIn(lines=[{"line": "b", "quantity": 2}])
    )
    assert result.refund.amount == Decimal("10.00")
    with pytest.raises(DomainError) as err:
        refund_create(store=store, order=order, data=RefundIn(lines=[{"line": "b", "quantity": 2}]))
    assert err.value.field == "lines.0.quantity"
