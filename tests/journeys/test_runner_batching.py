"""The runner claims many steps at once and runs them a chunk to a transaction."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersale.core.models import OutboxEvent
from aftersale.customers.models import Customer
from aftersale.journeys.models import Enrolment, ScheduledStep, StepRun
from aftersale.journeys.runner import run_due_steps
from aftersale.journeys.services import CustomerTags
from aftersale.messaging.models import ContactPreference
from tests.journeys.conftest import events, flow, make_order

pytestmark = pytest.mark.django_db

UTC = dt.UTC

TAG_THEN_WAIT = """
trigger: {event: order.created}
steps:
  - {id: hello, type: tag_customer, tag: hello}
  - {id: pause, type: wait, duration: 1d}
  - {id: again, type: tag_customer, tag: again}
exit: [{unsubscribed: true}]
"""


def enrol_customers(store, count: int, prefix: str = "c") -> list[Customer]:
    customers = []
    for n in range(count):
        customer = Customer.objects.create(
            store=store, email=f"{prefix}{n}@example.com", first_name="Ana", locale="en"
        )
        make_order(store, customer, f"{prefix}{n}")
        customers.append(customer)
    events()
    OutboxEvent.objects.all().delete()
    return customers


def outcomes() -> list[tuple[str, str, str]]:
    return list(
        StepRun.objects.order_by("enrolment__customer__email", "id").values_list(
            "enrolment__customer__email", "step_id", "outcome"
        )
    )


def step_queries(store, count: int, prefix: str) -> int:
    enrol_customers(store, count, prefix)
    with CaptureQueriesContext(connection) as queries:
        assert run_due_steps() == count
    return len(queries)


def test_a_batch_costs_the_same_queries_for_few_steps_and_for_many(store, clock_at):
    flow(store, TAG_THEN_WAIT)

    few = step_queries(store, 2, "few")
    many = step_queries(store, 12, "many")

    assert few == many


def test_a_batch_tags_each_customer_once_and_emits_one_event_per_new_tag(store, clock_at):
    flow(store, TAG_THEN_WAIT)
    first, second = enrol_customers(store, 2)
    Customer.objects.filter(pk=second.pk).update(tags=["hello"])

    assert run_due_steps() == 2

    assert outcomes() == [
        ("c0@example.com", "hello", "tagged"),
        ("c1@example.com", "hello", "already_tagged"),
    ]
    first.refresh_from_db()
    assert first.tags == ["hello"]
    assert first.updated_at == dt.datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    event = OutboxEvent.objects.get()
    assert (event.name, event.aggregate) == ("customer.updated", f"customer:{first.public_id}")
    assert event.payload["changed"] == ["tags"]
    steps = set(ScheduledStep.objects.values_list("step_id", "status", "due_at"))
    assert steps == {
        ("hello", "done", dt.datetime(2026, 11, 20, 10, 5, tzinfo=UTC)),
        ("pause", "pending", dt.datetime(2026, 11, 21, 10, 5, tzinfo=UTC)),
    }
    assert set(Enrolment.objects.values_list("current_step", flat=True)) == {"pause"}


def test_a_batch_continues_into_steps_that_become_due_and_completes(store, clock_at):
    flow(store, TAG_THEN_WAIT)
    enrol_customers(store, 3)
    assert run_due_steps() == 3

    clock_at.move_to("2026-11-21T10:05:00Z", tick=False)
    assert run_due_steps() == 6  # each wait, then the tag it made due

    assert set(Enrolment.objects.values_list("state", "current_step")) == {("completed", "again")}
    assert [o for _, _, o in outcomes()] == ["tagged", "waited", "tagged"] * 3
    assert not ScheduledStep.objects.exclude(status="done").exists()


def test_an_unsubscribed_shopper_leaves_the_batch_and_the_others_go_on(store, clock_at):
    flow(store, TAG_THEN_WAIT)
    _, second = enrol_customers(store, 2)
    ContactPreference.objects.create(store=store, customer=second, email=False)

    assert run_due_steps() == 2

    assert outcomes() == [
        ("c0@example.com", "hello", "tagged"),
        ("c1@example.com", "hello", "exited"),
    ]
    gone = Enrolment.objects.get(customer=second)
    assert (gone.state, gone.exit_reason) == ("exited", "unsubscribed")
    assert ScheduledStep.objects.get(enrolment=gone).status == "cancelled"
    second.refresh_from_db()
    assert second.tags == []


def test_a_failing_step_rolls_back_alone_and_is_retried_later(store, clock_at, monkeypatch):
    flow(store, TAG_THEN_WAIT)
    enrol_customers(store, 3)
    real_add = CustomerTags.add
    failing = Customer.objects.get(store=store, email="c1@example.com").pk

    def add(self, *, store, customer_id, tag):
        # Both the batch and the one-step-at-a-time retry tag through CustomerTags.
        if customer_id == failing:
            raise RuntimeError("the tag service is down")
        return real_add(self, store=store, customer_id=customer_id, tag=tag)

    monkeypatch.setattr(CustomerTags, "add", add)

    assert run_due_steps() == 2

    assert outcomes() == [
        ("c0@example.com", "hello", "tagged"),
        ("c1@example.com", "hello", "error"),
        ("c2@example.com", "hello", "tagged"),
    ]
    failed = ScheduledStep.objects.get(enrolment__customer__email="c1@example.com")
    assert (failed.status, failed.attempts, failed.claimed_by) == ("pending", 1, "")
    assert failed.due_at == dt.datetime(2026, 11, 20, 10, 6, tzinfo=UTC)
    assert Customer.objects.get(email="c1@example.com").tags == []
    assert OutboxEvent.objects.count() == 2
    assert ScheduledStep.objects.filter(step_id="pause").count() == 2


def test_a_claim_larger_than_a_chunk_runs_in_several_transactions_with_the_same_results(
    store, clock_at, monkeypatch
):
    from aftersale.journeys import runner

    monkeypatch.setattr(runner, "CHUNK", 2)
    monkeypatch.setattr(runner, "SQLITE_CHUNK", 2)
    flow(store, TAG_THEN_WAIT)
    enrol_customers(store, 5)

    assert run_due_steps() == 5

    assert outcomes() == [(f"c{n}@example.com", "hello", "tagged") for n in range(5)]
    assert list(Customer.objects.values_list("tags", flat=True)) == [["hello"]] * 5
    assert OutboxEvent.objects.filter(name="customer.updated").count() == 5
    assert set(ScheduledStep.objects.values_list("step_id", "status")) == {
        ("hello", "done"),
        ("pause", "pending"),
    }
    assert set(Enrolment.objects.values_list("current_step", flat=True)) == {"pause"}
