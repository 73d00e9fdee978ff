from datetime import UTC, datetime

import pytest

from aftersale.core.bulk import insert_objects
from aftersale.core.models import OutboxEvent
from aftersale.customers.models import Customer
from aftersale.orders.models import Order

pytestmark = pytest.mark.django_db


def test_insert_objects_fills_keys_foreign_keys_and_times(store, django_assert_num_queries):
    customer = Customer(store=store, email="kim@example.org")
    order = Order(
        store=store,
        external_id="1",
        number="1",
        currency="EUR",
        placed_at=datetime(2026, 5, 1, 10, tzinfo=UTC),
        customer=customer,  # not saved yet: its key is read when the order is written
    )
    with django_assert_num_queries(4):  # an INSERT and a key lookup per model
        insert_objects(Customer, [customer])
        insert_objects(Order, [order])

    saved = Order.objects.select_related("customer").get(pk=order.pk)
    assert saved.public_id == order.public_id
    assert saved.customer.email == "kim@example.org"
    assert saved.created_at == order.created_at == order.updated_at is not None
    assert not order._state.adding


def test_insert_objects_without_keys_is_one_statement(store, django_assert_num_queries):
    events = [
        OutboxEvent(store=store, name="test.bulk", aggregate=f"t:{n}", payload={"n": n})
        for n in range(3)
    ]
    with django_assert_num_queries(1):
        insert_objects(OutboxEvent, events, fetch_ids=False)

    assert [e.payload["n"] for e in OutboxEvent.objects.filter(name="test.bulk")] == [0, 1, 2]
