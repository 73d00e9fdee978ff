"""Delays and exceptions said before the shopper asks: tracking events → outbox → built-in flows →
one message per parcel and kind, in the shopper's language; never "delayed" after "delivered"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from aftersale.customers.models import Customer
from aftersale.journeys.builtin import BUILTIN_FLOWS, builtin_flows_missing, ensure_builtin_flows
from aftersale.journeys.models import Enrolment, Flow
from aftersale.journeys.runner import run_until_idle
from aftersale.messaging.context import Formatter, build_context
from aftersale.messaging.locales import SUPPORTED
from aftersale.messaging.message_templates import default_template
from aftersale.messaging.models import Message
from aftersale.messaging.preview import sample_shipment
from aftersale.messaging.rendering import render_email, render_sms
from aftersale.messaging.sending import send_due_messages
from aftersale.tracking.issues import issues_scan
from aftersale.tracking.models import ShipmentIssue
from aftersale.tracking.schemas import TrackingEventIn
from aftersale.tracking.services import tracking_events_add
from tests.journeys.conftest import events, make_order, ship

pytestmark = pytest.mark.django_db
UTC = dt.UTC

NEW_KINDS = [
    "out_for_delivery",
    "delivery_delayed",
    "delivery_exception",
    "delivery_attempt_failed",
    "ready_for_pickup",
    "returning_to_sender",
]
DELAYED_SUBJECTS = {
    "en": "Your order #1001 is running late",
    "de": "Ihre Bestellung #1001 verspätet sich",
    "pt-br": "Seu pedido #1001 está atrasado",
}


def at(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _builtin_flows(settings):
    settings.AFTERSALE_JOURNEYS_BUILTIN_FLOWS = True


@pytest.fixture
def bia(store):
    """A shopper who reads Brazilian Portuguese in São Paulo (the store speaks German)."""
    return Customer.objects.create(
        store=store,
        email="bia@example.com",
        first_name="Bia",
        locale="pt-br",
        time_zone="America/Sao_Paulo",
        phone="+5511912345678",
    )


def scan(shipment, when, status, *, reason=None, text="", location=""):
    event = TrackingEventIn(
        occurred_at=when,
        status=status,
        raw_status=status.upper(),
        raw_text=text or status,
        location=location,
        reason=reason,
    )
    tracking_events_add(store=shipment.store, shipment=shipment, events=[event])
    shipment.refresh_from_db()
    return shipment


def work():
    """One full turn of the workers: dispatch events, run flow steps, send messages."""
    events()
    run_until_idle()
    send_due_messages()


def shipped_parcel(store, customer, promised="2026-11-23"):
    order = make_order(store, customer)
    shipment = ship(
        store,
        order,
        shipped_at="2026-11-20T10:04:00Z",
        promised_delivery_date=promised,
        tracking_number="00340434161094042557",
    )
    scan(shipment, at(20, 18), "in_transit", text="Arrived at the sorting centre")
    work()
    mail.outbox.clear()
    return shipment


def subjects(kind: str | None = None) -> list[str]:
    return [m.subject for m in mail.outbox if kind is None or kind in m.subject]


# -- delayed ----------------------------------------------------------------------------------


def test_a_late_parcel_gets_exactly_one_delayed_email_in_the_shoppers_language(
    store, bia, clock_at
):
    shipment = shipped_parcel(store, bia)

    clock_at.move_to(at(24, 12), tick=False)  # the 24th in Berlin: a day past the promise
    assert issues_scan() == 1
    work()
    # More scans and more periodic runs change nothing.
    scan(shipment, at(24, 12, 30), "in_transit", text="Departed the hub")
    issues_scan()
    work()

    # (The shipping confirmation, held by the quiet hours in São Paulo, went out meanwhile.)
    delayed = [m for m in mail.outbox if m.subject in DELAYED_SUBJECTS.values()]
    assert len(delayed) == 1
    [email] = delayed
    assert email.to == ["bia@example.com"]
    assert email.subject == DELAYED_SUBJECTS["pt-br"]
    shipment.refresh_from_db()
    assert shipment.estimated_delivery_date >= dt.date(2026, 11, 24)
    new_estimate = Formatter("pt-br", "America/Sao_Paulo").date(shipment.estimated_delivery_date)
    assert f"Nova previsão de entrega: {new_estimate}" in email.body
    message = Message.objects.get(kind="delivery_delayed")
    assert "discount" not in message.context  # no apology code unless the merchant adds one
    assert (message.shipment, message.locale, message.status) == (shipment, "pt-br", "sent")
    enrolment = Enrolment.objects.get(flow__key="delivery-delayed")
    assert enrolment.shipment == shipment
    assert enrolment.state == Enrolment.State.COMPLETED


@pytest.mark.parametrize("dispatch_delivery", [True, False])
def test_a_parcel_delivered_before_the_step_runs_gets_no_delayed_email(
    store, bia, clock_at, dispatch_delivery
):
    shipment = shipped_parcel(store, bia)
    clock_at.move_to(at(24, 12), tick=False)
    issues_scan()
    events()  # enrolled in delivery-delayed; its first step is due

    scan(shipment, at(24, 11, 50), "delivered")
    if dispatch_delivery:
        events()  # the exit on shipment.delivered ends the enrolment …
    run_until_idle()  # … else the condition at send time sees the delivery
    work()

    assert not Message.objects.filter(kind="delivery_delayed").exists()
    assert subjects("atrasado") == []
    enrolment = Enrolment.objects.get(flow__key="delivery-delayed")
    if dispatch_delivery:
        assert enrolment.state == Enrolment.State.EXITED
        assert enrolment.exit_reason.startswith("shipment.delivered")
    else:
        assert enrolment.state == Enrolment.State.COMPLETED
    assert ShipmentIssue.objects.get(shipment=shipment, kind="late").resolved_at is not None


def test_a_parcel_delivered_on_time_is_never_late(store, bia, clock_at):
    shipment = shipped_parcel(store, bia)
    clock_at.move_to(at(23, 9), tick=False)
    scan(shipment, at(23, 8), "delivered")
    work()
    mail.outbox.clear()

    clock_at.move_to(at(25, 12), tick=False)
    assert issues_scan() == 0
    work()

    assert subjects("atrasado") == []  # the delivery note and thank-you went out, no delay
    assert not Message.objects.filter(kind="delivery_delayed").exists()
    assert not Enrolment.objects.filter(flow__key="delivery-delayed").exists()


def test_delivery_of_another_parcel_does_not_end_this_parcels_delay_notice(store, bia, clock_at):
    first = shipped_parcel(store, bia)
    second = ship(
        store,
        first.order,
        external_id="s2",
        shipped_at="2026-11-20T10:04:00Z",
        promised_delivery_date="2026-11-30",
    )
    scan(second, at(20, 18), "in_transit")
    work()
    mail.outbox.clear()

    clock_at.move_to(at(24, 12), tick=False)
    assert issues_scan() == 1  # only the first is late
    events()  # the first parcel enrols in delivery-delayed
    scan(second, at(24, 11), "delivered")
    events()  # an exit on shipment.delivered — but of the other parcel
    run_until_idle()
    send_due_messages()

    assert subjects("atrasado") == [DELAYED_SUBJECTS["pt-br"]]
    assert Message.objects.get(kind="delivery_delayed").shipment == first


# -- out for delivery, exceptions -----------------------------------------------------------


def test_five_out_for_delivery_scans_send_one_email_after_a_short_pause(store, customer, clock_at):
    shipment = shipped_parcel(store, customer)
    clock_at.move_to(at(21, 7), tick=False)  # 08:00 in Berlin

    for minute, status in [
        (0, "out_for_delivery"),
        (5, "out_for_delivery"),
        (10, "in_transit"),  # back to the depot for a moment
        (15, "out_for_delivery"),
        (20, "out_for_delivery"),
        (25, "out_for_delivery"),
    ]:
        scan(shipment, at(21, 6, minute), status, text=f"Scan {minute}")
        work()
    assert subjects() == []  # the pause: more scans may come

    clock_at.move_to(at(21, 7, 31), tick=False)
    work()
    clock_at.move_to(at(21, 9), tick=False)
    work()

    assert subjects() == ["Your order #1001 arrives today"]
    assert Enrolment.objects.filter(flow__key="out-for-delivery").count() == 1


def test_out_for_delivery_then_delivered_within_the_pause_sends_only_delivered(
    store, customer, clock_at
):
    shipment = shipped_parcel(store, customer)
    clock_at.move_to(at(21, 7), tick=False)
    scan(shipment, at(21, 6, 55), "out_for_delivery")
    work()
    clock_at.move_to(at(21, 7, 20), tick=False)
    scan(shipment, at(21, 7, 15), "delivered")
    work()
    clock_at.move_to(at(21, 8), tick=False)
    work()

    assert subjects() == ["Your order #1001 has been delivered"]


@pytest.mark.parametrize(
    ("status", "reason", "subject", "says"),
    [
        (
            "exception",
            "address_problem",
            "A problem with the delivery of order #1001",
            "Please reply to this email with your full, correct address",
        ),
        (
            "exception",
            "customs_delay",
            "A problem with the delivery of order #1001",
            "being checked by customs",
        ),
        (
            "attempt_failed",
            "recipient_absent",
            "We missed you — order #1001",
            "but nobody was there to take it",
        ),
        (
            "ready_for_pickup",
            None,
            "Your order #1001 is ready for pickup",
            "is waiting for you at Packstation 104, Berlin",
        ),
        (
            "returning_to_sender",
            "refused",
            "Your order #1001 is on its way back to us",
            "because it was refused",
        ),
    ],
)
def test_each_issue_sends_its_message_once(
    store, customer, clock_at, status, reason, subject, says
):
    shipment = shipped_parcel(store, customer)
    clock_at.move_to(at(21, 9), tick=False)

    scan(shipment, at(21, 8), status, reason=reason, location="Packstation 104, Berlin")
    work()
    scan(shipment, at(21, 8, 30), status, reason=reason, text="again")
    work()

    assert subjects() == [subject]
    assert says in mail.outbox[0].body


def test_existing_stores_get_the_new_built_in_flows_once(store):
    ensure_builtin_flows(store)
    old = Flow.objects.filter(store=store, key__in=["out-for-delivery", "delivery-delayed"])
    old.delete()  # as if the store was set up before this release
    assert builtin_flows_missing(store)

    added = ensure_builtin_flows(store)

    assert sorted(f.key for f in added) == ["delivery-delayed", "out-for-delivery"]
    assert not builtin_flows_missing(store)
    assert ensure_builtin_flows(store) == []
    keys = set(Flow.objects.filter(store=store).values_list("key", flat=True))
    assert keys == {spec.key for spec in BUILTIN_FLOWS}


# -- templates ------------------------------------------------------------------------------


def _context(store, locale, shipment=None, **extra):
    order = shipment.order if shipment is not None else None
    return build_context(
        store=store,
        locale=locale,
        time_zone="Europe/Berlin",
        marketing=False,
        customer=order.customer if order else None,
        email="ana@example.com",
        order=order,
        shipment=shipment,
        links={"order_url": "https://example.com/o", "shop_url": "https://example.com"},
        extra=extra,
    )


@pytest.mark.parametrize("locale", SUPPORTED)
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_new_kinds_render_in_every_locale(store, customer, clock_at, locale, kind):
    shipment = shipped_parcel(store, customer)
    reasons = ["", "address_problem", "damaged", "lost", "refused", "recipient_absent"]
    for minute, reason in enumerate(reasons):
        scan(shipment, at(21, 8, minute), "exception", reason=reason or None, location="Depot")
        context = _context(store, locale, shipment)
        assert context["shipment"]["latest_event"]["reason"] == reason
        email = render_email(default_template(kind, "email", locale), context)
        assert email.subject and "#1001" in email.subject
        assert "#1001" in email.text
        sms = render_sms(default_template(kind, "sms", locale).text_body, context)
        assert "#1001" in sms and len(sms) < 320

    # The preview's sample parcel (a store without parcels) has no scans or estimate.
    sample = _context(store, locale, shipment)
    sample["shipment"] = sample_shipment(Formatter(locale, "Europe/Berlin"))
    assert render_email(default_template(kind, "email", locale), sample).subject
    assert render_sms(default_template(kind, "sms", locale).text_body, sample)


@pytest.mark.parametrize("locale", SUPPORTED)
def test_the_apology_discount_shows_only_when_there_is_one(store, customer, clock_at, locale):
    shipment = shipped_parcel(store, customer)
    template = default_template("delivery_delayed", "email", locale)
    discount = {"code": "SORRY-7Q2M", "description": "10% off", "expires_on": "2026-12-31"}

    without = render_email(template, _context(store, locale, shipment))
    with_code = render_email(template, _context(store, locale, shipment, discount=discount))

    assert "SORRY-7Q2M" not in without.text and "SORRY-7Q2M" not in without.html
    assert "SORRY-7Q2M" in with_code.text and "SORRY-7Q2M" in with_code.html
