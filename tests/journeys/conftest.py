from __future__ import annotations

import pytest

from aftersale.core.events import dispatch_pending
from aftersale.customers.models import Customer
from aftersale.journeys.services import flow_create
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.schemas import ShipmentIn
from aftersale.tracking.services import shipment_upsert

START = "2026-11-20T10:05:00Z"  # five minutes after make_order's orders are placed


@pytest.fixture(autouse=True)
def _no_builtin_flows(settings):
    """Tests make the flows they need; the built-in test switches this back on."""
    settings.AFTERSALE_JOURNEYS_BUILTIN_FLOWS = False


@pytest.fixture
def clock_at(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def customer(store):
    return Customer.objects.create(
        store=store,
        email="ana@example.com",
        first_name="Ana",
        last_name="Souza",
        locale="en",
        time_zone="Europe/Berlin",
        accepts_marketing=True,
        phone="+4915112345678",
    )


def make_order(store, customer, external_id="1001", **extra):
    data = {
        "external_id": external_id,
        "number": f"#{external_id}",
        "placed_at": "2026-11-20T10:00:00Z",
        "email": customer.email if customer else "guest@example.com",
        "customer": {"email": customer.email} if customer else None,
        "shipping_total": "4.90",
        "lines": [
            {"title": "Trail Mug", "unit_price": "19.90", "quantity": 2, "sku": "MUG-1"},
            {"title": "Wool Socks", "variant_title": "M", "unit_price": "12.50", "quantity": 1},
        ],
        **extra,
    }
    return order_upsert(store=store, data=OrderIn(**data)).order


def ship(store, order, external_id="s1", **extra):
    data = {"order": order.public_id, "external_id": external_id, "carrier": "dhl", **extra}
    return shipment_upsert(store=store, data=ShipmentIn(**data)).shipment


def deliver(store, order, external_id="s1", at="2026-11-22T12:00:00Z"):
    return ship(store, order, external_id, status="delivered", delivered_at=at)


def events() -> int:
    """Hand pending outbox events to subscribers, as a worker turn does."""
    total = 0
    while done := dispatch_pending():
        total += done
    return total


def flow(store, definition: str | dict, key="test-flow", name="Test flow"):
    return flow_create(store=store, key=key, name=name, definition=definition)
