"""The runner's set-at-a-time reads and writes: one statement for many rows, on either database."""

import datetime as dt

import pytest

from aftersale.core.models import OutboxEvent
from aftersale.customers.models import Customer
from aftersale.journeys.models import ScheduledStep
from aftersale.journeys.runner import claim_due_steps
from aftersale.journeys.services import insert_all, one_of, update_rows
from tests.journeys.conftest import flow

pytestmark = pytest.mark.django_db

UTC = dt.UTC
AWKWARD = ["plain", 'a "quote"', "it's", "back\\slash", "{braces,comma}", "", "NULL", "ünï €"]

TAG = """
trigger: {event: order.created}
steps:
  - {id: hello, type: tag_customer, tag: hello}
"""


def test_insert_all_writes_every_row_with_its_values_and_the_fields_defaults(store, clock_at):
    at = dt.datetime(2026, 11, 20, 10, 5, 7, 123456, tzinfo=UTC)
    rows = [
        {
            "store_id": store.pk,
            "name": "customer.updated",
            "aggregate": f"customer:{n}",
            "payload": {"name": name, "n": n, "nested": [1, {"x": None}]},
            "next_attempt_at": at if n == 0 else None,
        }
        for n, name in enumerate(AWKWARD)
    ]

    assert insert_all(OutboxEvent, rows) == len(AWKWARD)

    events = list(OutboxEvent.objects.order_by("id"))
    assert [e.aggregate for e in events] == [f"customer:{n}" for n in range(len(AWKWARD))]
    assert [e.payload["name"] for e in events] == AWKWARD
    assert events[0].payload["nested"] == [1, {"x": None}]
    assert events[0].next_attempt_at == at
    assert events[1].next_attempt_at is None
    # Defaults: a fresh public id each, the insert time, the field defaults.
    assert len({e.public_id for e in events}) == len(AWKWARD)
    assert all(e.public_id.startswith("evt_") for e in events)
    assert {e.created_at for e in events} == {dt.datetime(2026, 11, 20, 10, 5, tzinfo=UTC)}
    assert {(e.attempts, e.last_error, e.dispatched_at) for e in events} == {(0, "", None)}


def test_update_rows_sets_the_named_fields_of_each_row_and_nothing_else(store):
    customers = [
        Customer.objects.create(store=store, email=f"c{n}@example.com", first_name="Ana")
        for n in range(3)
    ]
    at = dt.datetime(2026, 11, 21, 8, 0, 0, 654321, tzinfo=UTC)

    update_rows(
        Customer,
        ["tags", "updated_at"],
        [(customers[0].pk, ["a", 'b "c"'], at), (customers[2].pk, [], at)],
    )

    first, second, third = (Customer.objects.get(pk=c.pk) for c in customers)
    assert (first.tags, first.updated_at) == (["a", 'b "c"'], at)
    assert (third.tags, third.updated_at) == ([], at)
    assert second.updated_at == customers[1].updated_at
    assert first.first_name == "Ana"


def test_one_of_matches_exactly_the_values_given(store):
    customers = {
        name: Customer.objects.create(store=store, email=f"c{n}@example.com", first_name=name)
        for n, name in enumerate(AWKWARD)
    }
    Customer.objects.create(store=store, email="other@example.com", first_name="other")

    def names(condition):
        return set(Customer.objects.filter(condition).values_list("first_name", flat=True))

    assert names(one_of(Customer, "first_name", AWKWARD)) == set(AWKWARD)
    assert names(one_of(Customer, "first_name", ["it's", "missing", None])) == {"it's"}
    assert names(one_of(Customer, "id", [customers["plain"].pk, customers[""].pk])) == {
        "plain",
        "",
    }
    assert names(one_of(Customer, "id", [])) == set()


def test_a_claim_takes_the_earliest_due_steps_first_and_by_id_when_due_together(store, clock_at):
    version = flow(store, TAG).current_version
    customers = [Customer.objects.create(store=store, email=f"c{n}@example.com") for n in range(4)]
    now = dt.datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    due = [now, now - dt.timedelta(minutes=1), now, now - dt.timedelta(minutes=1)]
    steps = []
    for customer, due_at in zip(customers, due, strict=True):
        enrolment = version.enrolments.create(
            store=store,
            flow=version.flow,
            customer=customer,
            subject_ref=customer.email,
            current_step="hello",
            enrolled_at=now,
        )
        steps.append(
            ScheduledStep.objects.create(enrolment=enrolment, step_id="hello", due_at=due_at)
        )

    assert claim_due_steps(limit=3) == [steps[1].pk, steps[3].pk, steps[0].pk]
    assert claim_due_steps(limit=3) == [steps[2].pk]


def test_insert_all_numbers_the_rows_in_list_order(store):
    # Outbox events are dispatched in id order per aggregate: a list of events for one customer
    # must keep its order.
    names = [f"e{n:03d}" for n in range(300)][::-1]
    insert_all(
        OutboxEvent,
        [
            {"store_id": store.pk, "name": name, "aggregate": "customer:1", "payload": {}}
            for name in names
        ],
    )
    assert list(OutboxEvent.objects.order_by("id").values_list("name", flat=True)) == names
