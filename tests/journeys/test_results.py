"""Flow results: counts per flow and step, last-touch conversions, the holdout comparison, pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aftersale.core.models import StoreMember
from aftersale.customers.models import Customer
from aftersale.journeys.models import Enrolment, Flow, ScheduledStep, StepRun
from aftersale.journeys.results import (
    HoldoutComparison,
    Period,
    flow_results,
    flows_overview,
    newcombe_interval,
    wilson_interval,
)
from aftersale.journeys.runner import run_until_idle
from aftersale.messaging.models import ContactPreference, LinkClick, Message
from aftersale.messaging.sending import send_due_messages
from aftersale.messaging.services import message_enqueue
from aftersale.orders.models import Order
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from tests.journeys.conftest import events, flow, make_order

pytestmark = pytest.mark.django_db
UTC = dt.UTC

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # triggering orders are placed
ENROLLED = T0 + dt.timedelta(minutes=5)
D0 = T0 + dt.timedelta(hours=1)  # the first message goes out
NOW = dt.datetime(2026, 12, 20, 0, 0, tzinfo=UTC)  # when the results are read
PERIOD = Period(start=NOW - dt.timedelta(days=90), end=NOW, attribution_days=5)

THANKS_OFFER = {
    "trigger": {"event": "order.created"},
    "steps": [
        {"id": "thanks", "type": "send", "kind": "thank_you"},
        {"id": "wait-2d", "type": "wait", "duration": "2d"},
        {"id": "offer", "type": "send", "kind": "win_back"},
    ],
}
WITH_HOLDOUT = {
    "trigger": {"event": "order.created"},
    "steps": [
        {
            "id": "split",
            "type": "random_split",
            "branches": [
                {"name": "treated", "percent": 67},
                {"name": "holdout", "percent": 33, "holdout": True},
            ],
        },
        {"id": "offer", "type": "send", "kind": "win_back"},
    ],
}
OPTED_OUT = "opted out of feedback and review requests by email"


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


# -- factories ------------------------------------------------------------------------------


def shopper(store, name: str, *, consent: bool = True) -> Customer:
    return Customer.objects.create(
        store=store,
        email=f"{name}@example.com",
        first_name=name.title(),
        locale="en",
        time_zone="Europe/Berlin",
        accepts_marketing=consent,
    )


def enrol(flow_, customer, *, at=ENROLLED, order=None, state="completed", **extra) -> Enrolment:
    return Enrolment.objects.create(
        store=flow_.store,
        flow=flow_,
        version=flow_.current_version,
        customer=customer,
        order=order,
        subject_ref=order.public_id if order else f"{customer.public_id}:{at.isoformat()}",
        enrolled_at=at,
        state=state,
        **extra,
    )


def step_run(enrolment, step_id, outcome, at=D0) -> StepRun:
    return StepRun.objects.create(
        store=enrolment.store,
        flow=enrolment.flow,
        enrolment=enrolment,
        step_id=step_id,
        outcome=outcome,
        at=at,
    )


def send(enrolment, step_id, kind, *, sent_at=None, status=None) -> Message:
    """What the runner's send step does (same origin and key), then the sender's verdict."""
    message, _ = message_enqueue(
        store=enrolment.store,
        kind=kind,
        customer=enrolment.customer,
        order=enrolment.order,
        origin=f"flow:{enrolment.flow.public_id}:{step_id}",
        idempotency_key=f"flow:{enrolment.public_id}:{step_id}",
    )
    outcome = "suppressed" if message.status == Message.Status.SUPPRESSED else "queued"
    step_run(enrolment, step_id, outcome, at=sent_at or D0)
    if sent_at is not None:
        Message.objects.filter(pk=message.pk).update(status="sent", sent_at=sent_at)
    elif status is not None:
        Message.objects.filter(pk=message.pk).update(status=status, status_reason=status)
    message.refresh_from_db()
    return message


def click(message, at) -> LinkClick:
    return LinkClick.objects.create(
        store=message.store, message=message, url="https://shop.example/p", clicked_at=at
    )


def buy(store, customer, ref, at, total, currency="EUR", status="open") -> Order:
    data = OrderIn(
        external_id=ref,
        placed_at=at,
        email=customer.email,
        customer={"email": customer.email},
        currency=currency,
        total=Decimal(total),
        status=status,
    )
    return order_upsert(store=store, data=data).order


def fresh(flow_) -> Flow:
    return Flow.objects.select_related("store", "current_version").get(pk=flow_.pk)


# -- statistics -----------------------------------------------------------------------------


def test_wilson_and_newcombe_match_the_hand_computed_table():
    # Given 30 of 200 treated and 10 of 100 held-out enrolments converted (z = 1.959964):
    #   Wilson 30/200: centre (0.15 + z²/400)/(1 + z²/200) = 0.156596,
    #                  half z/(1 + z²/200)·sqrt(0.15·0.85/200 + z²/160000) = 0.049460
    #   Wilson 10/100: centre 0.114797, half 0.059568
    #   L = 0.05 − sqrt((0.15 − 0.107136)² + (0.174366 − 0.10)²) = −0.035835
    #   U = 0.05 + sqrt((0.206056 − 0.15)² + (0.10 − 0.055229)²) = +0.121741
    low1, high1 = wilson_interval(30, 200)
    low2, high2 = wilson_interval(10, 100)
    assert (round(low1, 6), round(high1, 6)) == (0.107136, 0.206056)
    assert (round(low2, 6), round(high2, 6)) == (0.055229, 0.174366)
    d, low, high = newcombe_interval(30, 200, 10, 100)
    assert (round(d, 6), round(low, 4), round(high, 4)) == (0.05, -0.0358, 0.1217)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873–890, table II, method 10.
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ],
)
def test_newcombe_interval_reproduces_the_published_examples(table, expected):
    _, low, high = newcombe_interval(*table)
    assert (round(low, 4), round(high, 4)) == expected


def test_the_reading_says_what_the_interval_supports():
    effect = HoldoutComparison(
        treated=2000, treated_converted=300, holdout=1000, holdout_converted=100
    )
    assert effect.verdict == "added"
    assert (
        effect.reading() == "the flow added 5.0 points of conversion (95% CI 2.5 to 7.4)"
    )  # Wald: ±2.4
    assert effect.relative_lift == pytest.approx(0.5)

    unclear = HoldoutComparison(
        treated=200, treated_converted=30, holdout=100, holdout_converted=10
    )
    assert unclear.reading() == (
        "no detectable effect yet — the interval includes zero (95% CI -3.6 to 12.2)"
    )
    harm = HoldoutComparison(
        treated=2000, treated_converted=100, holdout=1000, holdout_converted=100
    )
    assert harm.reading().startswith("the flow lowered conversion by 5.0 points (95% CI")

    empty = HoldoutComparison(treated=10, treated_converted=1, holdout=0, holdout_converted=0)
    assert empty.interval is None and empty.relative_lift is None and empty.verdict == "unknown"
    assert HoldoutComparison(5, 1, 5, 0).relative_lift is None  # no base to be relative to


# -- the flow's numbers ---------------------------------------------------------------------


@pytest.fixture
def scenario(store, time_machine):
    """Eight shoppers through thanks → wait-2d → offer, and one other flow's touch.

    ana   thanks sent, clicked 4 days later; offer sent; orders 2 days after the click (thanks)
          and 12 hours after the offer (offer).
    bia   thanks sent and clicked twice; offer sent; orders in USD 20 hours after the offer,
          inside both windows: counted once, for the offer.
    caio  no consent: offer suppressed; orders 6 days after thanks, no click: not attributed.
    dora  opted out of feedback: thanks suppressed; offer sent; a cancelled order, then one.
    eva   thanks expired; offer still queued; orders: no touch before it.
    fred  thanks sent; waiting at wait-2d now; another flow's message after it takes the order.
    hana  thanks failed; exited at wait-2d (unsubscribed).
    ivo   exited at thanks before anything went out (order.cancelled).
    olga  enrolled before the range; her message and order are not counted.
    """
    time_machine.move_to(T0, tick=False)
    f = flow(store, THANKS_OFFER)
    other = flow(
        store, {**THANKS_OFFER, "steps": THANKS_OFFER["steps"][:1]}, key="other", name="Other flow"
    )
    people = {
        name: shopper(store, name, consent=name != "caio")
        for name in ("ana", "bia", "caio", "dora", "eva", "fred", "hana", "ivo", "olga")
    }
    ContactPreference.objects.create(store=store, customer=people["dora"], feedback=False)
    e = {
        name: enrol(f, people[name], order=make_order(store, people[name], name))
        for name in people
        if name != "olga"
    }
    orders = {}

    a1 = send(e["ana"], "thanks", "thank_you", sent_at=D0)
    click(a1, D0 + days(4))
    step_run(e["ana"], "wait-2d", "waited")
    send(e["ana"], "offer", "win_back", sent_at=D0 + days(7))
    orders["ana1"] = buy(store, people["ana"], "a1", D0 + days(6), "40.00")
    orders["ana2"] = buy(store, people["ana"], "a2", D0 + days(7.5), "25.00")

    b1 = send(e["bia"], "thanks", "thank_you", sent_at=D0)
    click(b1, D0 + days(1))
    click(b1, D0 + days(1) + dt.timedelta(hours=1))
    step_run(e["bia"], "wait-2d", "waited")
    send(e["bia"], "offer", "win_back", sent_at=D0 + days(2))
    orders["bia"] = buy(
        store, people["bia"], "b1", D0 + days(2) + dt.timedelta(hours=20), "30.00", "USD"
    )

    send(e["caio"], "thanks", "thank_you", sent_at=D0)
    step_run(e["caio"], "wait-2d", "waited")
    assert send(e["caio"], "offer", "win_back").status_reason == "no marketing consent"
    orders["caio"] = buy(store, people["caio"], "c1", D0 + days(6), "99.00")

    assert send(e["dora"], "thanks", "thank_you").status_reason == OPTED_OUT
    step_run(e["dora"], "wait-2d", "waited")
    send(e["dora"], "offer", "win_back", sent_at=D0 + days(2))
    buy(
        store,
        people["dora"],
        "d1",
        D0 + days(2) + dt.timedelta(hours=1),
        "500.00",
        status="cancelled",
    )
    orders["dora"] = buy(store, people["dora"], "d2", D0 + days(2) + dt.timedelta(hours=2), "10.00")

    send(e["eva"], "thanks", "thank_you", status="expired")
    step_run(e["eva"], "wait-2d", "waited")
    send(e["eva"], "offer", "win_back")
    buy(store, people["eva"], "e1", D0 + days(1), "70.00")

    send(e["fred"], "thanks", "thank_you", sent_at=D0)
    Enrolment.objects.filter(pk=e["fred"].pk).update(state="active", current_step="wait-2d")
    ScheduledStep.objects.create(enrolment=e["fred"], step_id="wait-2d", due_at=NOW + days(5))
    other_enrolment = enrol(other, people["fred"], order=e["fred"].order)
    send(other_enrolment, "thanks", "thank_you", sent_at=D0 + days(1))
    orders["fred"] = buy(store, people["fred"], "f1", D0 + days(2), "15.00")

    send(e["hana"], "thanks", "thank_you", status="failed")
    Enrolment.objects.filter(pk=e["hana"].pk).update(state="exited", exit_reason="unsubscribed")
    step_run(e["hana"], "wait-2d", "exited")

    Enrolment.objects.filter(pk=e["ivo"].pk).update(state="exited", exit_reason="order.cancelled")
    step_run(e["ivo"], "thanks", "exited")

    old = enrol(f, people["olga"], at=NOW - days(100))
    send(old, "thanks", "thank_you", sent_at=NOW - days(100))
    buy(store, people["olga"], "o1", NOW - days(99), "1000.00")

    time_machine.move_to(NOW, tick=False)
    return {"flow": fresh(f), "other": fresh(other), "orders": orders}


def test_flow_summary_counts_enrolments_by_state_and_exit_reason(scenario):
    found = flow_results(flow=scenario["flow"], period=PERIOD)

    assert (found.entered, found.active, found.waiting) == (8, 1, 1)
    assert (found.completed, found.exited) == (5, 2)
    assert found.exit_reasons == [("order.cancelled", 1), ("unsubscribed", 1)]


def test_steps_come_in_definition_order_with_reach_and_outcomes(scenario):
    found = flow_results(flow=scenario["flow"], period=PERIOD)

    assert [(s.id, s.type, s.summary) for s in found.steps] == [
        ("thanks", "send", "thank_you by email"),
        ("wait-2d", "wait", "wait 2d"),
        ("offer", "send", "win_back by email"),
    ]
    thanks, wait, offer = found.steps
    assert (thanks.reached, thanks.outcomes) == (8, {"queued": 6, "suppressed": 1, "exited": 1})
    assert (wait.reached, wait.outcomes, wait.here_now) == (6, {"waited": 5, "exited": 1}, 1)
    assert (offer.reached, offer.outcomes) == (5, {"queued": 4, "suppressed": 1})
    assert wait.send is None


def test_send_steps_count_messages_by_status_and_suppression_reason(scenario):
    found = flow_results(flow=scenario["flow"], period=PERIOD)
    thanks, _, offer = found.steps

    assert thanks.send is not None and offer.send is not None
    assert (thanks.send.messages, thanks.send.sent, thanks.send.queued) == (7, 4, 0)
    assert (thanks.send.failed, thanks.send.expired, thanks.send.bounced) == (1, 1, 0)
    assert thanks.send.suppressed == {OPTED_OUT: 1}
    assert (offer.send.messages, offer.send.sent, offer.send.queued) == (5, 3, 1)
    assert (offer.send.failed, offer.send.expired) == (0, 0)
    assert offer.send.suppressed == {"no marketing consent": 1}
    assert found.sent == 7


def test_clicks_count_clicked_messages_and_every_click(scenario):
    found = flow_results(flow=scenario["flow"], period=PERIOD)
    thanks, _, offer = found.steps

    assert (thanks.send.clicked, thanks.send.clicks) == (2, 3)
    assert (offer.send.clicked, offer.send.clicks) == (0, 0)
    assert thanks.send.click_rate == pytest.approx(2 / 4)


def test_orders_go_to_the_latest_touch_inside_the_window_once(scenario):
    found = flow_results(flow=scenario["flow"], period=PERIOD)
    thanks, _, offer = found.steps

    # ana's first order: 6 days after the send but 2 after her click.
    assert thanks.send.conversions.orders == 1
    assert thanks.send.conversions.revenue == {"EUR": Decimal("40.00")}
    # ana's second, bia's (USD, also inside the thanks window: counted once) and dora's
    # (her cancelled order is not counted); caio (too late), eva (no touch) and fred (another
    # flow's message came later) are not.
    assert offer.send.conversions.orders == 3
    assert offer.send.conversions.revenue == {"EUR": Decimal("35.00"), "USD": Decimal("30.00")}
    assert found.conversions.orders == 4
    assert found.conversions.revenue == {"EUR": Decimal("75.00"), "USD": Decimal("30.00")}
    assert all(isinstance(v, Decimal) for v in found.conversions.revenue.values())


def test_the_window_can_be_narrowed_per_request(scenario):
    one_day = Period(start=PERIOD.start, end=PERIOD.end, attribution_days=1)
    found = flow_results(flow=scenario["flow"], period=one_day)
    thanks, _, offer = found.steps

    # ana's first order is 2 days after her click now outside; the offer's three stay.
    assert thanks.send.conversions.orders == 0
    assert offer.send.conversions.orders == 3


def test_a_later_touch_from_another_flow_takes_the_order(scenario):
    other = flow_results(flow=scenario["other"], period=PERIOD)

    assert other.entered == 1
    assert other.steps[0].send.conversions.orders == 1
    assert other.steps[0].send.conversions.revenue == {"EUR": Decimal("15.00")}


def test_the_overview_sums_each_flow_without_double_counting(scenario, store):
    rows = flows_overview(flows=Flow.objects.filter(store=store), period=PERIOD)
    by_key = {row.flow.key: row for row in rows}

    main, other = by_key["test-flow"], by_key["other"]
    assert (main.entered, main.sent, main.conversions.orders) == (8, 7, 4)
    assert main.conversions.revenue == {"EUR": Decimal("75.00"), "USD": Decimal("30.00")}
    assert main.conversion_rate == pytest.approx(4 / 7)
    assert (other.entered, other.sent, other.conversions.orders) == (1, 1, 1)


def test_enrolments_outside_the_range_are_left_out(scenario):
    recent = Period(start=NOW - days(5), end=NOW, attribution_days=5)
    found = flow_results(flow=scenario["flow"], period=recent)

    assert found.entered == 0 and found.sent == 0 and found.conversions.orders == 0
    assert [s.reached for s in found.steps] == [0, 0, 0]


def test_results_follow_a_flow_the_runner_and_sender_actually_ran(store, customer, clock_at):
    # Given a flow that sends a thank-you, run by the real runner and sender
    f = flow(store, {"trigger": {"event": "order.created"}, "steps": [THANKS_OFFER["steps"][0]]})
    make_order(store, customer)
    events()
    run_until_idle()
    clock_at.move_to("2026-11-20T12:00:00Z", tick=False)
    send_due_messages()
    message = Message.objects.get(kind="thank_you")
    assert message.status == "sent"
    click(message, dt.datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    buy(store, customer, "again", dt.datetime(2026, 11, 23, 9, 0, tzinfo=UTC), "12.50")

    # When the results are read
    clock_at.move_to("2026-11-30T00:00:00Z", tick=False)
    found = flow_results(flow=fresh(f), period=Period(T0 - days(1), T0 + days(10), 5))

    # Then the message, the click and the order are the step's
    (thanks,) = found.steps
    assert (found.entered, found.completed, thanks.reached) == (1, 1, 1)
    assert (thanks.send.sent, thanks.send.clicked, thanks.send.conversions.orders) == (1, 1, 1)
    assert thanks.send.conversions.revenue == {"EUR": Decimal("12.50")}


# -- the holdout ----------------------------------------------------------------------------


def test_holdout_comparison_counts_conversions_after_enrolment(store, time_machine):
    time_machine.move_to(NOW, tick=False)
    f = fresh(flow(store, WITH_HOLDOUT))
    customers = Customer.objects.bulk_create(
        Customer(store=store, email=f"c{i}@example.com", locale="en") for i in range(306)
    )
    groups = ["treated"] * 200 + ["holdout"] * 100 + ["holdout"] * 3 + [""] * 3
    enrolments = Enrolment.objects.bulk_create(
        Enrolment(
            store=store,
            flow=f,
            version=f.current_version,
            customer=customer,
            subject_ref=f"s{i}",
            enrolled_at=ENROLLED,
            state="completed",
            branch=branch,
        )
        for i, (customer, branch) in enumerate(zip(customers, groups, strict=True))
    )
    # 30 treated and 10 held-out customers order again within 5 days
    for i in [*range(30), *range(200, 210)]:
        buy(store, customers[i], f"r{i}", ENROLLED + days(3), "20.00")
    # What does not count: an order after the window, a cancelled one, the enrolment's own order
    buy(store, customers[210], "late", ENROLLED + days(6), "20.00")
    buy(store, customers[211], "void", ENROLLED + days(1), "20.00", status="cancelled")
    own = buy(store, customers[212], "own", ENROLLED + dt.timedelta(minutes=1), "20.00")
    Enrolment.objects.filter(pk=enrolments[212].pk).update(order=own)
    # … nor a holdout enrolment without a customer, nor enrolments not at the split yet.
    Enrolment.objects.filter(pk__in=[e.pk for e in enrolments[300:303]]).update(customer=None)
    for i in range(303, 306):
        buy(store, customers[i], f"x{i}", ENROLLED + days(1), "20.00")

    found = flow_results(flow=f, period=PERIOD)

    assert found.holdout == HoldoutComparison(
        treated=200, treated_converted=30, holdout=100, holdout_converted=10
    )
    d, low, high = found.holdout.interval
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.05, -0.0358, 0.1217)
    assert found.holdout.relative_lift == pytest.approx(0.5)
    assert found.holdout.verdict == "none"


def test_a_flow_without_a_split_has_no_holdout_comparison(scenario):
    assert flow_results(flow=scenario["flow"], period=PERIOD).holdout is None


# -- bounded queries ------------------------------------------------------------------------


def _grow(store, f, start: int, count: int) -> None:
    for i in range(start, start + count):
        person = shopper(store, f"q{i}")
        e = enrol(f, person, branch="holdout" if i % 3 == 0 else "treated")
        if i % 3:
            m = send(e, "offer", "win_back", sent_at=D0)
            click(m, D0 + days(1))
        buy(store, person, f"q{i}", D0 + days(2), "10.00", "EUR" if i % 2 else "USD")


def _queries(f) -> int:
    with CaptureQueriesContext(connection) as ctx:
        flow_results(flow=fresh(f), period=PERIOD)
    return len(ctx.captured_queries) - 1  # less the flow itself


def test_query_count_does_not_grow_with_enrolments(
    store, time_machine, django_assert_max_num_queries
):
    time_machine.move_to(T0, tick=False)
    f = flow(store, WITH_HOLDOUT)
    _grow(store, f, 0, 10)
    time_machine.move_to(NOW, tick=False)
    small = _queries(f)
    with django_assert_max_num_queries(12):
        found = flow_results(flow=fresh(f), period=PERIOD)
    assert found.entered == 10

    time_machine.move_to(T0, tick=False)
    _grow(store, f, 10, 90)
    time_machine.move_to(NOW, tick=False)
    with django_assert_max_num_queries(12):
        found = flow_results(flow=fresh(f), period=PERIOD)
    assert found.entered == 100
    assert found.steps[1].send.conversions.orders == 66
    assert _queries(f) == small


def test_overview_query_count_does_not_grow_with_flows(
    store, time_machine, django_assert_max_num_queries
):
    time_machine.move_to(T0, tick=False)
    for i in range(5):
        f = flow(store, WITH_HOLDOUT, key=f"f{i}")
        _grow(store, f, i * 10, 3)
    time_machine.move_to(NOW, tick=False)
    with django_assert_max_num_queries(4):
        rows = flows_overview(flows=Flow.objects.filter(store=store), period=PERIOD)
    assert [r.entered for r in rows] == [3] * 5


# -- pages ----------------------------------------------------------------------------------


@pytest.fixture
def member(client, django_user_model, store):
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    StoreMember.objects.create(store=store, user=user)
    client.force_login(user)
    return client


@pytest.fixture
def outsider(client, django_user_model, other_store):
    user = django_user_model.objects.create_user(username="brisa", password="pw", is_staff=True)
    StoreMember.objects.create(store=other_store, user=user)
    client.force_login(user)
    return client


def results_url(f) -> str:
    return reverse("journeys:flow_results", args=[f.public_id])


def test_results_page_shows_a_member_the_flow(scenario, member):
    response = member.get(results_url(scenario["flow"]), {"attribution_days": "5"})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="step-thanks"' in page and 'id="step-offer"' in page
    assert "no marketing consent" in page and OPTED_OUT in page
    assert "€75.00" in page and "$30.00" in page
    assert "order.cancelled" in page
    assert response.context["results"].conversions.orders == 4


@pytest.fixture
def at_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_results_page_reads_the_holdout_in_plain_words(store, at_now, member):
    f = flow(store, WITH_HOLDOUT)
    for i, branch in enumerate(["treated"] * 4 + ["holdout"] * 2):
        enrol(f, shopper(store, f"h{i}"), at=NOW - days(10), branch=branch)

    response = member.get(results_url(f))

    assert response.status_code == 200
    page = response.content.decode()
    assert "No detectable effect yet — the interval includes zero (95% CI" in page
    assert response.context["holdout"]["comparison"] == HoldoutComparison(4, 0, 2, 0)


def test_results_page_is_404_for_a_staff_user_of_another_store(scenario, outsider):
    response = outsider.get(results_url(scenario["flow"]))

    assert response.status_code == 404
    assert "results" not in (response.context or {})


def test_results_page_needs_a_staff_login(scenario, client, django_user_model, store):
    shopper_user = django_user_model.objects.create_user(username="x", password="pw")
    StoreMember.objects.create(store=store, user=shopper_user)
    client.force_login(shopper_user)

    response = client.get(results_url(scenario["flow"]))

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_invalid_form_falls_back_to_the_default_range(scenario, member):
    response = member.get(results_url(scenario["flow"]), {"attribution_days": "0"})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["period"].attribution_days == 5


def test_overview_lists_only_the_users_flows(scenario, member, other_store, outsider_flow):
    response = member.get(reverse("journeys:overview"))

    assert response.status_code == 200
    page = response.content.decode()
    assert results_url(scenario["flow"]) in page and results_url(scenario["other"]) in page
    assert results_url(outsider_flow) not in page
    assert [r["summary"].conversions.orders for r in response.context["rows"]] == [1, 4]


@pytest.fixture
def outsider_flow(other_store):
    return flow(other_store, THANKS_OFFER, key="theirs", name="Theirs")


def test_the_date_range_is_in_the_stores_days(store, member, time_machine):
    """Acme is in Berlin: 23:30 UTC on the 9th is already the 10th there."""
    time_machine.move_to(dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC), tick=False)
    from aftersale.journeys.builtin import ensure_builtin_flows

    flow_ = next(f for f in ensure_builtin_flows(store) if f.key == "order-confirmation")
    enrol(flow_, shopper(store, "late"), at=dt.datetime(2026, 11, 9, 23, 30, tzinfo=dt.UTC))

    on_the_9th = member.get(results_url(flow_), {"start": "2026-11-09", "end": "2026-11-09"})
    on_the_10th = member.get(results_url(flow_), {"start": "2026-11-10", "end": "2026-11-10"})

    assert on_the_9th.context["results"].entered == 0
    assert on_the_10th.context["results"].entered == 1
    assert on_the_10th.context["time_zone"] == "Europe/Berlin"
