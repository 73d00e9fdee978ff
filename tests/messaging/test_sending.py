"""Sending through a real SMTP server (aiosmtpd) and Django's locmem backend."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
import time_machine
from django.core import mail

from aftersale.core import clock
from aftersale.core.models import StoreAlert
from aftersale.messaging.models import (
    KindPolicy,
    Message,
    MessageTemplate,
    MessagingSettings,
    Suppression,
)
from aftersale.messaging.sending import recover_abandoned, send_due_messages
from aftersale.messaging.services import message_enqueue
from tests.messaging.conftest import make_order

NOON = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def statuses(message):
    return list(message.log.values_list("status", flat=True))


@pytest.mark.django_db(transaction=True)
def test_email_goes_through_smtp_with_both_parts_and_unsubscribe_headers(store, order, smtp_server):
    MessagingSettings.objects.create(
        store=store, sender_name="Acme Outdoor", sender_email="hello@acme.example"
    )
    message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)

    assert send_due_messages() == 1

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.subject == "Order #1001 confirmed"
    assert statuses(message) == ["queued", "sent"]
    [received] = smtp_server.handler.messages
    assert received["Subject"] == "Order #1001 confirmed"
    assert received["From"] == "Acme Outdoor <hello@acme.example>"
    assert received["To"] == "ana@example.com"
    assert received["Message-ID"] == f"<{message.public_id}@aftersale.invalid>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["List-Unsubscribe"].strip().startswith("<http://127.0.0.1:8000/m/u/")
    parts = {part.get_content_type(): part for part in received.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "2 × Trail Mug — €39.80" in text
    assert "Total: €57.20" in text
    assert 'width="600"' in html
    assert "prefers-color-scheme: dark" in html  # @media rules survive inlining
    assert 'style="' in html  # CSS inlined
    assert "/m/c/" in html  # links are tracked


@pytest.mark.django_db(transaction=True)
def test_money_and_dates_in_the_recipients_locale(store, order, customer, smtp_server):
    customer.locale = "de"
    customer.save()
    order.refresh_from_db()
    message_enqueue(store=store, kind="order_confirmation", order=order)

    send_due_messages()

    [received] = smtp_server.handler.messages
    text = next(
        p.get_payload(decode=True).decode()
        for p in received.walk()
        if p.get_content_type() == "text/plain"
    )
    assert "39,80\xa0€" in text
    assert "20. November 2026" in text
    assert "Bestellung" in received["Subject"]


@pytest.mark.django_db(transaction=True)
def test_hard_bounce_suppresses_the_address_for_the_store(store, order, smtp_server):
    smtp_server.handler.refuse["ana@example.com"] = "550 5.1.1 No such user"
    message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)

    send_due_messages()

    message.refresh_from_db()
    assert message.status == Message.Status.BOUNCED
    assert "550" in message.status_reason
    assert Suppression.objects.filter(
        store=store, address="ana@example.com", reason="hard_bounce"
    ).exists()
    later, _ = message_enqueue(store=store, kind="delivered", order=order)
    assert later.status == Message.Status.SUPPRESSED
    assert smtp_server.handler.messages == []


@pytest.mark.django_db(transaction=True)
def test_temporary_refusal_retries_with_backoff(store, order, smtp_server):
    smtp_server.handler.refuse["ana@example.com"] = "451 4.7.1 Greylisted, try again later"
    message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)

    send_due_messages()

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert message.due_at > clock.now() + dt.timedelta(seconds=20)
    assert statuses(message) == ["queued", "failed"]
    assert "451" in message.log.last().detail

    del smtp_server.handler.refuse["ana@example.com"]
    with time_machine.travel(message.due_at + dt.timedelta(seconds=1)):
        send_due_messages()
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(smtp_server.handler.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_server_down_loses_nothing_and_sends_once_it_is_back(store, customer, settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "aftersale.messaging.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    orders = [make_order(store, customer, external_id=str(2000 + i)) for i in range(5)]
    for order in orders:
        message_enqueue(store=store, kind="order_confirmation", order=order)

    assert send_due_messages() == 0
    assert Message.objects.filter(status=Message.Status.QUEUED).count() == 5
    assert Message.objects.filter(status=Message.Status.SENDING).count() == 0

    from tests.messaging.conftest import SmtpServer

    server = SmtpServer(port=port).start()
    try:
        with time_machine.travel(clock.now() + dt.timedelta(minutes=10)):
            send_due_messages()
        assert Message.objects.filter(status=Message.Status.SENT).count() == 5
        ids = server.handler.message_ids()
        assert len(ids) == len(set(ids)) == 5
    finally:
        server.stop()


@pytest.mark.django_db
def test_fatigue_budget_defers_to_the_next_free_place_or_expires(store, customer):
    MessagingSettings.objects.create(store=store, fatigue_limit=2, fatigue_window_days=7)
    KindPolicy.objects.create(store=store, kind="reorder_reminder", expires_after_hours=48)
    orders = [make_order(store, customer, external_id=str(3000 + i)) for i in range(4)]
    with time_machine.travel(NOON, tick=False):
        first, _ = message_enqueue(store=store, kind="review_request", order=orders[0])
        second, _ = message_enqueue(store=store, kind="feedback_request", order=orders[1])
        send_due_messages()
    with time_machine.travel(NOON + dt.timedelta(hours=1), tick=False):
        third, _ = message_enqueue(store=store, kind="review_request", order=orders[2])
        fourth, _ = message_enqueue(store=store, kind="reorder_reminder", order=orders[3])
        send_due_messages()

    for m in (first, second, third, fourth):
        m.refresh_from_db()
    assert (first.status, second.status) == ("sent", "sent")
    # Over budget: waits for the oldest place to free up, 7 days after it was taken …
    assert third.status == Message.Status.QUEUED
    assert third.due_at == NOON + dt.timedelta(days=7, seconds=1)
    assert "fatigue budget full (2 per 7 days)" in third.log.last().detail
    # … unless that is after the message's own expiry: then it is dropped, and the log says so.
    assert fourth.status == Message.Status.EXPIRED
    assert "is after it expires" in fourth.status_reason
    assert len(mail.outbox) == 2

    with time_machine.travel(third.due_at + dt.timedelta(minutes=1), tick=False):
        send_due_messages()
    third.refresh_from_db()
    assert third.status == Message.Status.SENT
    assert statuses(third) == ["queued", "deferred", "sent"]


@pytest.mark.django_db
def test_transactional_messages_do_not_use_the_budget(store, customer):
    MessagingSettings.objects.create(store=store, fatigue_limit=1)
    orders = [make_order(store, customer, external_id=str(4000 + i)) for i in range(3)]
    with time_machine.travel(NOON, tick=False):
        for order in orders:
            message_enqueue(store=store, kind="order_confirmation", order=order)
        send_due_messages()

    assert Message.objects.filter(status=Message.Status.SENT).count() == 3
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_higher_priority_takes_the_last_place_in_the_budget(store, customer):
    MessagingSettings.objects.create(store=store, fatigue_limit=1)
    orders = [make_order(store, customer, external_id=str(5000 + i)) for i in range(2)]
    with time_machine.travel(NOON, tick=False):
        low, _ = message_enqueue(store=store, kind="win_back", customer=customer)
        high, _ = message_enqueue(store=store, kind="feedback_request", order=orders[0])
        send_due_messages()

    low.refresh_from_db()
    high.refresh_from_db()
    assert high.status == Message.Status.SENT
    assert low.status == Message.Status.QUEUED
    assert low.log.last().status == "deferred"


@pytest.mark.django_db
def test_consent_withdrawn_after_queueing_is_honoured_at_send_time(store, order, customer):
    with time_machine.travel(NOON, tick=False):
        message, _ = message_enqueue(store=store, kind="exclusive_offer", order=order)
        customer.accepts_marketing = False
        customer.save()
        send_due_messages()

    message.refresh_from_db()
    assert message.status == Message.Status.SUPPRESSED
    assert message.status_reason == "no marketing consent"
    assert mail.outbox == []


@pytest.mark.django_db
def test_template_that_cannot_render_fails_the_message_and_alerts(store, order):
    MessageTemplate.objects.create(
        store=store,
        kind="order_confirmation",
        channel="email",
        locale="en",
        subject="Order {{ order.numbr }}",
        html_body="<p>x</p>",
        text_body="x",
    )
    with time_machine.travel(NOON, tick=False):
        message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)
        send_due_messages()

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.status_reason == "template error: subject: unknown variable {{ order.numbr }}"
    assert mail.outbox == []
    alert = StoreAlert.objects.get(store=store, kind="template_error")
    assert "order_confirmation" in alert.message


@pytest.mark.django_db
def test_abandoned_before_hand_off_is_sent_again_after_hand_off_never(store, customer):
    orders = [make_order(store, customer, external_id=str(6000 + i)) for i in range(2)]
    with time_machine.travel(NOON, tick=False):
        not_handed, _ = message_enqueue(store=store, kind="order_confirmation", order=orders[0])
        handed, _ = message_enqueue(store=store, kind="order_confirmation", order=orders[1])
    expired_lease = NOON - dt.timedelta(minutes=1)
    Message.objects.filter(pk=not_handed.pk).update(
        status="sending", lease_until=expired_lease, claimed_by="dead", attempts=1
    )
    Message.objects.filter(pk=handed.pk).update(
        status="sending",
        lease_until=expired_lease,
        claimed_by="dead",
        attempts=1,
        handed_off_at=NOON - dt.timedelta(minutes=2),
    )

    with time_machine.travel(NOON, tick=False):
        assert recover_abandoned(now=clock.now()) == 2
        send_due_messages()

    not_handed.refresh_from_db()
    handed.refresh_from_db()
    assert not_handed.status == handed.status == Message.Status.SENT
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]  # only the one never handed off
    assert "not sent again" in handed.log.last().detail


@pytest.mark.django_db
def test_sms_goes_through_the_sms_backend(store, customer):
    from aftersale.messaging.sms import LocmemSmsBackend
    from aftersale.tracking.models import Shipment

    LocmemSmsBackend.outbox.clear()
    MessagingSettings.objects.create(store=store, sms_sender="+4915100000000")
    order = make_order(store, customer)
    shipment = Shipment.objects.create(
        store=store,
        order=order,
        carrier="DHL",
        tracking_number="00340434161094042557",
        tracking_url="https://www.dhl.de/track?n=00340434161094042557",
    )
    with time_machine.travel(NOON, tick=False):
        message, _ = message_enqueue(
            store=store, kind="shipping_confirmation", shipment=shipment, channel="sms"
        )
        send_due_messages()

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.recipient == "+4915112345678"
    [sms] = LocmemSmsBackend.outbox
    assert sms["to"] == "+4915112345678"
    assert sms["from"] == "+4915100000000"
    assert sms["body"] == (
        "Acme Outdoor: order #1001 has shipped with DHL. "
        "Track it: https://www.dhl.de/track?n=00340434161094042557"
    )
