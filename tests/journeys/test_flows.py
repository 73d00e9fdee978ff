import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from aftersale.core.models import OutboxEvent
from aftersale.core.signing import verify_outbound
from aftersale.customers.models import Customer
from aftersale.journeys import models as jm
from aftersale.journeys.builtin import BUILTIN_FLOWS, ensure_builtin_flows
from aftersale.journeys.models import DiscountCode, Enrolment, Flow, StepRun
from aftersale.journeys.runner import run_until_idle
from aftersale.journeys.scheduler import run_scheduled_triggers
from aftersale.journeys.services import discount_pool_upload
from aftersale.journeys.simulation import simulate_flow
from aftersale.messaging.models import Message
from aftersale.messaging.sending import send_due_messages
from tests.journeys.conftest import deliver, events, flow, make_order, ship

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def test_built_in_flows_confirm_an_order_by_email_end_to_end(store, customer, clock_at, settings):
    settings.AFTERSALE_JOURNEYS_BUILTIN_FLOWS = True
    order = make_order(store, customer)

    events()
    assert set(Flow.objects.filter(store=store, active=True).values_list("key", flat=True)) == {
        spec.key for spec in BUILTIN_FLOWS
    }
    assert ensure_builtin_flows(store) == []
    run_until_idle()
    send_due_messages()

    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    message = Message.objects.get(kind="order_confirmation")
    assert message.status == "sent"
    assert message.order == order
    assert message.origin.startswith("flow:flo_") and message.origin.endswith(":confirm")
    # The first order starts win-back but no exclusive offer.
    keys = set(Enrolment.objects.values_list("flow__key", flat=True))
    assert keys == {"order-confirmation", "win-back"}


def test_built_in_shipping_delivered_and_second_order_flows(store, customer, clock_at, settings):
    settings.AFTERSALE_JOURNEYS_BUILTIN_FLOWS = True
    order = make_order(store, customer)
    events()
    ship(store, order, shipped_at="2026-11-20T10:04:00Z")
    events()
    deliver(store, order, at="2026-11-20T10:05:00Z")
    events()
    run_until_idle()
    clock_at.move_to("2026-11-21T10:05:00Z", tick=False)
    make_order(store, customer, "1002", placed_at="2026-11-21T10:00:00Z")
    events()
    run_until_idle()

    kinds = sorted(Message.objects.values_list("kind", flat=True))
    assert kinds == [
        "delivered",
        "exclusive_offer",
        "order_confirmation",
        "order_confirmation",
        "shipping_confirmation",
        "thank_you",
    ]
    offer = Message.objects.get(kind="exclusive_offer")
    code = DiscountCode.objects.get()
    assert code.code.startswith("THANKS-") and code.percent_off == 10
    assert code.expires_on == dt.date(2026, 12, 21)
    assert offer.context["discount"] == {
        "code": code.code,
        "description": "10% off",
        "expires_on": "2026-12-21",
    }
    # The second order ended the first order's win-back.
    win_back = Enrolment.objects.get(flow__key="win-back", order=order)
    assert win_back.state == "exited"


def test_codes_from_a_pool_go_once_per_enrolment(store, customer, clock_at):
    discount_pool_upload(store=store, key="vip", name="VIP", codes=["VIP-1", "VIP-2"])
    flow(
        store,
        "trigger: {event: order.created}\nsteps: [{id: code, type: issue_discount, pool: vip},"
        " {id: offer, type: send, kind: exclusive_offer}]",
    )
    for n in range(3):
        make_order(store, customer, f"50{n}")
    events()
    run_until_idle()

    issued = dict(DiscountCode.objects.values_list("code", "enrolment__order__number"))
    assert issued == {"VIP-1": "#500", "VIP-2": "#501"}
    outcomes = sorted(StepRun.objects.filter(step_id="code").values_list("outcome", flat=True))
    assert outcomes == ["failed", "issued", "issued"]
    assert Message.objects.filter(kind="exclusive_offer").count() == 3


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = 200
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    status = 503
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def test_webhook_step_posts_signed_json_and_retries_with_backoff(
    store, customer, clock_at, receiver
):
    the_flow = flow(
        store,
        "trigger: {event: order.created}\nsteps:\n"
        f"  - {{id: hook, type: webhook, url: '{receiver.url}', max_attempts: 3}}\n"
        "  - {id: tag, type: tag_customer, tag: hooked}",
    )
    receiver.fail_next = 1
    make_order(store, customer)
    events()

    run_until_idle()
    enrolment = Enrolment.objects.get()
    assert enrolment.current_step == "hook"
    clock_at.move_to("2026-11-20T10:05:30Z", tick=False)
    run_until_idle()

    assert len(receiver.requests) == 2
    request = receiver.requests[1]
    body = request["body"]
    assert verify_outbound(the_flow.webhook_secret, body, request["headers"]["Aftersale-Signature"])
    assert request["headers"]["Idempotency-Key"] == f"{enrolment.public_id}:hook"
    assert json.loads(body)["enrolment"] == enrolment.public_id
    outcomes = list(StepRun.objects.order_by("id").values_list("step_id", "outcome"))
    assert outcomes == [("hook", "retrying"), ("hook", "delivered"), ("tag", "tagged")]


def test_webhook_step_gives_up_with_failed_and_the_flow_goes_on(
    store, customer, clock_at, receiver
):
    flow(
        store,
        "trigger: {event: order.created}\nsteps:\n"
        f"  - {{id: hook, type: webhook, url: '{receiver.url}', max_attempts: 2}}\n"
        "  - {id: tag, type: tag_customer, tag: hooked}",
    )
    receiver.fail_next = 5
    make_order(store, customer)
    events()
    run_until_idle()
    clock_at.move_to("2026-11-20T11:00:00Z", tick=False)
    run_until_idle()

    outcomes = list(StepRun.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["retrying", "failed", "tagged"]
    assert len(receiver.requests) == 2


def test_birthdays_enrol_once_a_year_in_the_stores_time_zone(store, customer, time_machine):
    flow(
        store,
        "trigger: {event: customer.birthday}\nsteps: [{id: greet, type: send, kind: birthday}]",
    )
    customer.birthday = dt.date(1990, 11, 21)
    customer.save()
    Customer.objects.create(store=store, email="bo@example.com", birthday=dt.date(1985, 11, 22))

    time_machine.move_to("2026-11-20T22:30:00Z", tick=False)  # 23:30 in Berlin: not yet
    assert run_scheduled_triggers() == 0
    time_machine.move_to("2026-11-20T23:30:00Z", tick=False)  # 00:30 on the 21st in Berlin
    assert run_scheduled_triggers() == 1
    assert run_scheduled_triggers() == 0
    assert Enrolment.objects.get().subject_ref == f"birthday:{customer.public_id}:2026"


def test_reorder_reminders_follow_the_products_repurchase_interval(store, time_machine):
    from aftersale.catalog.models import Product

    Product.objects.create(store=store, title="Coffee beans", external_id="beans")
    flow(
        store,
        "trigger: {event: product.reorder_due, lead_days: 2}\n"
        "steps: [{id: remind, type: send, kind: reorder_reminder}]",
    )
    line = [{"title": "Beans", "unit_price": "12", "quantity": 1, "product_external_id": "beans"}]
    # Three regulars buy every 20 days; that is the product's median interval.
    for n in range(3):
        buyer = Customer.objects.create(store=store, email=f"r{n}@example.com")
        for k in range(3):
            placed = dt.datetime(2026, 9, 1, tzinfo=UTC) + dt.timedelta(days=20 * k)
            make_order(store, buyer, f"r{n}-{k}", placed_at=placed.isoformat(), lines=line)
    newcomer = Customer.objects.create(store=store, email="new@example.com")
    make_order(store, newcomer, "n-1", placed_at="2026-11-01T09:00:00Z", lines=line)

    time_machine.move_to("2026-11-18T12:00:00Z", tick=False)  # 17 days after: not yet
    assert run_scheduled_triggers() == 0
    time_machine.move_to("2026-11-19T12:00:00Z", tick=False)  # 18 days: 2 before day 20
    assert run_scheduled_triggers() == 1
    enrolment = Enrolment.objects.get()
    assert enrolment.customer == newcomer
    assert enrolment.context["product"]["interval_days"] == 20


def test_simulation_reports_and_writes_nothing(store, customer, clock_at):
    definition = """
trigger: {event: order.created}
steps:
  - {id: wait-delivery, type: wait, until_event: shipment.delivered, timeout: 14d}
  - {id: pause, type: wait, duration: 3d}
  - {id: ask, type: send, kind: feedback_request}
exit: [{event: order.cancelled}]
"""
    delivered = make_order(store, customer, "1001", placed_at="2026-10-01T10:00:00Z")
    deliver(store, delivered, at="2026-10-03T12:00:00Z")
    make_order(store, customer, "1002", placed_at="2026-10-05T10:00:00Z")  # never delivered
    cancelled = make_order(store, customer, "1003", placed_at="2026-10-06T10:00:00Z")
    cancelled.status, cancelled.cancelled_at = "cancelled", dt.datetime(2026, 10, 7, tzinfo=UTC)
    cancelled.save()
    models = [jm.Flow, jm.FlowVersion, jm.Enrolment, jm.ScheduledStep, jm.StepRun, jm.DiscountCode]
    models += [Message, OutboxEvent]
    before = {m.__name__: m.objects.count() for m in models}

    report = simulate_flow(
        store,
        definition,
        dt.datetime(2026, 9, 1, tzinfo=UTC),
        dt.datetime(2026, 11, 1, tzinfo=UTC),
    )

    assert {m.__name__: m.objects.count() for m in models} == before
    assert (report.entered, report.completed, report.exited) == (3, 2, 1)
    assert report.messages == {"feedback_request": 2}
    rows = {row.order: row for row in report.rows}
    assert rows["#1001"].messages[0].at == dt.datetime(2026, 10, 6, 12, 0, tzinfo=UTC)
    assert rows["#1002"].messages[0].at == dt.datetime(2026, 10, 22, 10, 0, tzinfo=UTC)
    assert rows["#1003"].end == "exited: order.cancelled"
    assert report.steps["wait-delivery"] == {"event": 1, "timed_out": 1, "exited": 1}


@pytest.mark.django_db
def test_a_store_with_flows_can_be_deleted(store):
    from aftersale.core.models import Store
    from aftersale.journeys.builtin import ensure_builtin_flows
    from aftersale.journeys.models import Flow, FlowVersion

    flows = ensure_builtin_flows(store)
    from aftersale.journeys.models import Enrolment

    Enrolment.objects.create(
        store=store,
        flow=flows[0],
        version=flows[0].current_version,
        subject_ref="ord_x",
        enrolled_at="2026-11-20T10:00:00Z",
    )
    store.delete()

    assert not Store.objects.filter(pk=store.pk).exists()
    assert not Flow.objects.exists()
    assert not FlowVersion.objects.exists()
