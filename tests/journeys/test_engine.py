import datetime as dt
import threading

import pytest
from django.db import connection

from aftersale.core.ids import new_public_id
from aftersale.core.models import OutboxEvent
from aftersale.journeys import runner
from aftersale.journeys.definition import parse_definition
from aftersale.journeys.models import Enrolment, ScheduledStep, StepRun
from aftersale.journeys.runner import (
    choose_branch,
    claim_due_steps,
    run_claimed_step,
    run_due_steps,
    run_until_idle,
)
from aftersale.journeys.services import flow_update, handle_event
from aftersale.messaging.models import Message
from aftersale.orders.services import order_cancel
from tests.journeys.conftest import deliver, events, flow, make_order, ship

pytestmark = pytest.mark.django_db

UTC = dt.UTC

FEEDBACK = """
trigger: {event: order.created, filters: [{field: order.total, op: gte, value: 50}]}
steps:
  - {id: pause, type: wait, duration: 3d}
  - {id: ask, type: send, kind: feedback_request}
exit: [{event: order.cancelled}, {event: order.created, new_order: true}]
"""


def runs(enrolment):
    return list(
        StepRun.objects.filter(enrolment=enrolment).order_by("id").values_list("step_id", "outcome")
    )


def test_trigger_and_filters_enrol_once_even_when_the_event_is_handled_twice(
    store, customer, clock_at
):
    flow(store, FEEDBACK)
    make_order(store, customer, "1001")  # 57.20 EUR
    make_order(store, customer, "1002", lines=[{"title": "Pin", "unit_price": "5", "quantity": 1}])

    events()
    for event in OutboxEvent.objects.filter(name="order.created"):
        handle_event(event)  # delivered a second time

    enrolment = Enrolment.objects.get()
    assert (enrolment.order.number, enrolment.state, enrolment.current_step) == (
        "#1001",
        "active",
        "pause",
    )
    assert enrolment.subject_ref == enrolment.order.public_id
    assert ScheduledStep.objects.filter(enrolment=enrolment).count() == 1


def test_a_wait_holds_the_next_step_until_its_time_then_the_send_goes_once(
    store, customer, clock_at
):
    the_flow = flow(store, FEEDBACK)
    make_order(store, customer)
    events()

    clock_at.move_to("2026-11-23T10:04:59Z", tick=False)
    assert run_until_idle() == 0
    assert not Message.objects.exists()

    clock_at.move_to("2026-11-23T10:05:00Z", tick=False)
    assert run_until_idle() == 2
    enrolment = Enrolment.objects.get()
    message = Message.objects.get()
    assert (message.kind, message.recipient, message.origin) == (
        "feedback_request",
        "ana@example.com",
        f"flow:{the_flow.public_id}:ask",
    )
    assert message.idempotency_key == f"flow:{enrolment.public_id}:ask"
    assert runs(enrolment) == [("pause", "waited"), ("ask", "queued")]
    assert enrolment.state == "completed"
    assert enrolment.finished_at == dt.datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert run_until_idle() == 0


MORNING = """
trigger: {event: order.created}
steps:
  - {id: morning, type: wait, until_time: "10:00"}
  - {id: ask, type: send, kind: feedback_request}
"""


@pytest.mark.parametrize(
    ("time_zone", "due"),
    [
        ("Europe/Berlin", dt.datetime(2026, 11, 21, 9, 0, tzinfo=UTC)),  # 11:05 there: tomorrow
        ("America/Sao_Paulo", dt.datetime(2026, 11, 20, 13, 0, tzinfo=UTC)),  # 07:05: today
        ("", dt.datetime(2026, 11, 21, 9, 0, tzinfo=UTC)),  # none: the store's (Berlin)
    ],
)
def test_until_time_is_the_next_such_time_in_the_recipients_zone(
    store, customer, clock_at, time_zone, due
):
    customer.time_zone = time_zone
    customer.save()
    flow(store, MORNING)
    make_order(store, customer)
    events()

    assert ScheduledStep.objects.get(step_id="morning").due_at == due


WAIT_DELIVERY = """
trigger: {event: order.created}
steps:
  - {id: wait-delivery, type: wait, until_event: shipment.delivered, timeout: 14d}
  - {id: ask, type: send, kind: feedback_request}
"""


def test_until_event_resumes_when_the_order_is_delivered(store, customer, clock_at):
    flow(store, WAIT_DELIVERY)
    order = make_order(store, customer)
    other = make_order(store, customer, "1002")
    events()
    ship(store, order)
    deliver(store, other, "s2")  # another order's parcel wakes nothing of this one
    events()
    assert run_until_idle() == 2  # only `other`'s enrolment moves on
    mine = Enrolment.objects.get(order=order)
    assert mine.current_step == "wait-delivery"

    clock_at.move_to("2026-11-22T12:00:00Z", tick=False)
    deliver(store, order)
    events()
    assert run_until_idle() == 2
    mine.refresh_from_db()
    assert runs(mine)[0][1] == "event"
    assert mine.state == "completed"
    assert Message.objects.filter(order=order, kind="feedback_request").count() == 1


def test_until_event_continues_after_the_timeout(store, customer, clock_at):
    flow(store, WAIT_DELIVERY)
    make_order(store, customer)
    events()

    clock_at.move_to("2026-12-04T10:04:00Z", tick=False)
    assert run_until_idle() == 0
    clock_at.move_to("2026-12-04T10:05:00Z", tick=False)
    assert run_until_idle() == 2
    enrolment = Enrolment.objects.get()
    assert runs(enrolment) == [("wait-delivery", "timed_out"), ("ask", "queued")]


def test_a_wait_for_something_that_already_happened_does_not_wait(store, customer, clock_at):
    flow(store, WAIT_DELIVERY.replace("order.created", "shipment.created"))
    order = make_order(store, customer)
    deliver(store, order)  # reported for the first time already delivered
    events()

    step = ScheduledStep.objects.get()
    assert step.due_at == clock_at_now()
    assert step.resumed_by == "shipment.delivered: had already happened"
    assert run_until_idle() == 2
    assert runs(Enrolment.objects.get())[0][1] == "event"


def clock_at_now():
    from aftersale.core import clock

    return clock.now()


CONDITION = """
trigger: {event: order.created}
steps:
  - {id: big, type: condition, if: {field: order.total, op: gte, value: 100},
     then: vip, else: thanks}
  - {id: vip, type: tag_customer, tag: vip, next: end}
  - {id: thanks, type: send, kind: thank_you}
"""


def test_a_condition_takes_the_branch_that_holds(store, customer, clock_at):
    flow(store, CONDITION)
    make_order(store, customer, "1001")  # 57.20
    make_order(
        store, customer, "1002", lines=[{"title": "Tent", "unit_price": "300", "quantity": 1}]
    )
    events()
    run_until_idle()

    small = Enrolment.objects.get(order__number="#1001")
    large = Enrolment.objects.get(order__number="#1002")
    assert runs(small) == [("big", "else"), ("thanks", "queued")]
    assert runs(large) == [("big", "then"), ("vip", "tagged")]
    customer.refresh_from_db()
    assert customer.tags == ["vip"]
    assert list(Message.objects.values_list("order__number", flat=True)) == ["#1001"]


SPLIT = """
trigger: {event: order.created}
steps:
  - {id: ab, type: random_split, branches: [{name: A, percent: 45, next: a},
                                            {name: B, percent: 45, next: b},
                                            {name: holdout, percent: 10, holdout: true}]}
  - {id: a, type: send, kind: feedback_request, next: end}
  - {id: b, type: send, kind: review_request}
"""


def test_random_split_is_stable_per_enrolment_and_keeps_the_percentages():
    step = parse_definition(SPLIT).step("ab")
    refs = [new_public_id("enr") for _ in range(1000)]

    counts = {"A": 0, "B": 0, "holdout": 0}
    for ref in refs:
        counts[choose_branch(step, ref).name] += 1

    assert [choose_branch(step, ref).name for ref in refs[:50]] == [
        choose_branch(step, ref).name for ref in refs[:50]
    ]
    assert 390 <= counts["A"] <= 510
    assert 390 <= counts["B"] <= 510
    assert 60 <= counts["holdout"] <= 140


def test_random_split_records_the_branch_and_a_holdout_gets_nothing(store, customer, clock_at):
    flow(store, SPLIT)
    for n in range(12):
        make_order(store, customer, f"20{n:02d}")
    events()
    run_until_idle()

    for enrolment in Enrolment.objects.all():
        expected = {"A": "feedback_request", "B": "review_request", "holdout": None}[
            enrolment.branch
        ]
        kinds = list(Message.objects.filter(order=enrolment.order).values_list("kind", flat=True))
        assert kinds == ([expected] if expected else [])
        assert enrolment.state == "completed"


def test_cancelling_the_order_ends_its_enrolment_and_nothing_is_sent(store, customer, clock_at):
    flow(store, FEEDBACK)
    order = make_order(store, customer)
    events()

    order_cancel(store=store, order=order, reason="customer changed mind")
    events()
    clock_at.move_to("2026-11-24T00:00:00Z", tick=False)
    run_until_idle()

    enrolment = Enrolment.objects.get()
    assert enrolment.state == "exited"
    assert enrolment.exit_reason.startswith("order.cancelled: evt_")
    assert ScheduledStep.objects.get().status == "cancelled"
    assert runs(enrolment) == [("pause", "exited")]
    assert not Message.objects.exists()


def test_a_new_order_ends_the_earlier_enrolment_and_starts_its_own(store, customer, clock_at):
    flow(store, FEEDBACK)
    make_order(store, customer, "1001")
    events()

    clock_at.move_to("2026-11-21T09:00:00Z", tick=False)
    make_order(store, customer, "1002", placed_at="2026-11-21T08:59:00Z")
    events()

    states = dict(Enrolment.objects.values_list("order__number", "state"))
    assert states == {"#1001": "exited", "#1002": "active"}
    assert "(a new order)" in Enrolment.objects.get(order__number="#1001").exit_reason


def test_editing_a_flow_keeps_running_enrolments_on_their_version(store, customer, clock_at):
    the_flow = flow(store, FEEDBACK)
    make_order(store, customer, "1001")
    events()

    flow_update(
        store=store, flow=the_flow, definition=FEEDBACK.replace("feedback_request", "thank_you")
    )
    clock_at.move_to("2026-11-20T10:06:00Z", tick=False)
    make_order(store, customer, "1002", placed_at="2026-11-20T10:00:00Z")
    events()
    clock_at.move_to("2026-11-24T00:00:00Z", tick=False)
    run_until_idle()

    the_flow.refresh_from_db()
    assert the_flow.current_version.number == 2
    sent = dict(Message.objects.values_list("order__number", "kind"))
    assert sent == {"#1001": "feedback_request", "#1002": "thank_you"}
    versions = dict(Enrolment.objects.values_list("order__number", "version__number"))
    assert versions == {"#1001": 1, "#1002": 2}


NOW_SEND = """
trigger: {event: order.created}
steps:
  - {id: ask, type: send, kind: feedback_request}
"""


def test_two_claimers_never_get_the_same_step(store, customer, clock_at):
    flow(store, NOW_SEND)
    for n in range(5):
        make_order(store, customer, f"30{n}")
    events()

    first = claim_due_steps(limit=3, worker_id="a")
    second = claim_due_steps(limit=10, worker_id="b")
    third = claim_due_steps(limit=10, worker_id="c")

    assert len(first) == 3 and len(second) == 2 and third == []
    assert set(first).isdisjoint(second)
    assert run_claimed_step(first[0], worker_id="b") == 0  # not b's to run
    assert run_due_steps(worker_id="c") == 0


class WorkerKilled(BaseException):
    pass


def test_a_step_whose_lease_ran_out_runs_again_and_sends_once(
    store, customer, clock_at, monkeypatch
):
    flow(store, NOW_SEND)
    make_order(store, customer)
    events()

    # Worker "dead" claims the step and dies just before marking it done.
    [pk] = claim_due_steps(worker_id="dead")
    real_close = runner._close

    def die(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(runner, "_close", die)
    with pytest.raises(WorkerKilled):
        run_claimed_step(pk, worker_id="dead")
    monkeypatch.setattr(runner, "_close", real_close)

    assert run_due_steps(worker_id="alive") == 0  # its lease still holds
    clock_at.move_to("2026-11-20T10:07:01Z", tick=False)
    assert run_due_steps(worker_id="alive") == 1

    step = ScheduledStep.objects.get()
    assert (step.status, step.claimed_by, step.attempts) == ("done", "alive", 2)
    assert Message.objects.count() == 1
    assert StepRun.objects.count() == 1


def test_a_slow_worker_that_lost_its_lease_changes_nothing(store, customer, clock_at):
    flow(store, NOW_SEND)
    make_order(store, customer)
    events()

    [pk] = claim_due_steps(worker_id="slow")
    clock_at.move_to("2026-11-20T10:07:01Z", tick=False)
    assert claim_due_steps(worker_id="fast") == [pk]

    assert run_claimed_step(pk, worker_id="slow") == 0
    assert run_claimed_step(pk, worker_id="fast") == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_in_threads_split_the_work(store, customer, clock_at):
    flow(store, NOW_SEND)
    for n in range(40):
        make_order(store, customer, f"40{n:02d}")
    events()
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claim(name: str):
        try:
            barrier.wait()
            claimed[name] = claim_due_steps(limit=15, worker_id=name)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [pk for ids in claimed.values() for pk in ids]
    assert len(everything) == len(set(everything)) == 40
