import pytest

from aftersale.core import events
from aftersale.core.events import EVENT_MAX_ATTEMPTS, dispatch_pending, emit, subscribe
from aftersale.core.models import HandledEvent, OutboxEvent, StoreAlert

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorder():
    """Registers test subscribers and removes them afterwards."""
    before = list(events._subscribers)
    seen: list[tuple[str, str]] = []
    failing: set[str] = set()

    @subscribe("test.*", name="tests.recorder")
    def record(event):
        if event.payload.get("n") in failing:
            raise RuntimeError(f"planned failure on {event.payload['n']}")
        seen.append((event.aggregate, event.payload["n"]))

    yield seen, failing
    events._subscribers[:] = before


def test_each_event_reaches_its_subscriber_once_in_order(store, recorder):
    seen, _ = recorder
    for n in ["a1", "a2", "a3"]:
        emit(store=store, name="test.thing", aggregate="thing:a", payload={"n": n})

    assert dispatch_pending() == 3
    assert dispatch_pending() == 0
    assert seen == [("thing:a", "a1"), ("thing:a", "a2"), ("thing:a", "a3")]
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_a_failing_event_holds_back_its_aggregate_only(store, recorder, time_machine):
    seen, failing = recorder
    time_machine.move_to("2026-06-01T12:00:00Z", tick=False)
    failing.add("a1")
    emit(store=store, name="test.thing", aggregate="thing:a", payload={"n": "a1"})
    emit(store=store, name="test.thing", aggregate="thing:a", payload={"n": "a2"})
    emit(store=store, name="test.thing", aggregate="thing:b", payload={"n": "b1"})

    dispatch_pending()
    assert seen == [("thing:b", "b1")]
    first = OutboxEvent.objects.get(payload__n="a1")
    assert first.attempts == 1
    assert "planned failure on a1" in first.last_error

    failing.clear()
    dispatch_pending()  # still backing off
    assert seen == [("thing:b", "b1")]

    time_machine.move_to("2026-06-01T12:00:03Z", tick=False)
    dispatch_pending()
    assert seen == [("thing:b", "b1"), ("thing:a", "a1"), ("thing:a", "a2")]


def test_an_event_that_keeps_failing_is_parked_with_an_alert(store, recorder, time_machine):
    _, failing = recorder
    time_machine.move_to("2026-06-01T12:00:00Z", tick=False)
    failing.add("x")
    event = emit(store=store, name="test.thing", aggregate="thing:x", payload={"n": "x"})

    for hour in range(EVENT_MAX_ATTEMPTS):
        time_machine.move_to(f"2026-06-0{1 + hour // 24}T{hour % 24:02d}:30:00Z", tick=False)
        dispatch_pending()

    event.refresh_from_db()
    assert event.attempts == EVENT_MAX_ATTEMPTS
    assert event.failed_at is not None
    assert event.dispatched_at is not None
    alert = StoreAlert.objects.get(store=store, kind="event_failed")
    assert event.public_id in alert.message


def test_a_subscriber_that_succeeded_is_not_run_again_when_another_fails(store, recorder):
    seen, _ = recorder
    before = list(events._subscribers)
    calls = []

    @subscribe("test.*", name="tests.flaky")
    def flaky(event):
        calls.append(event.payload["n"])
        if len(calls) == 1:
            raise RuntimeError("first call fails")

    try:
        emit(store=store, name="test.thing", aggregate="thing:c", payload={"n": "c1"})
        dispatch_pending()
        OutboxEvent.objects.update(next_attempt_at=None)
        dispatch_pending()
    finally:
        events._subscribers[:] = before

    assert seen == [("thing:c", "c1")]
    assert calls == ["c1", "c1"]
    assert HandledEvent.objects.filter(handler__startswith="tests.").count() == 2
