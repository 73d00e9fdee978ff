"""The SMTP conversation beside rendering (sending._SmtpLanes): same outcomes as sending in turn."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from aftersale.core import clock
from aftersale.core.services import store_create
from aftersale.customers.models import Customer
from aftersale.messaging import sending
from aftersale.messaging.models import Message, MessageTemplate
from aftersale.messaging.sending import send_due_messages
from aftersale.messaging.services import message_enqueue
from tests.messaging.conftest import SmtpServer, StopsAfter, free_port, make_order


@pytest.fixture
def lanes_started(monkeypatch):
    started = []
    original = sending._SmtpLanes.__init__

    def counting_init(self, batch):
        started.append(self)
        original(self, batch)

    monkeypatch.setattr(sending._SmtpLanes, "__init__", counting_init)
    return started


def _use_smtp(settings, port):
    settings.EMAIL_BACKEND = "aftersale.messaging.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5


@pytest.mark.django_db(transaction=True)
def test_a_batch_goes_through_the_lanes_with_every_hand_off_recorded(
    store, customer, smtp_server, lanes_started, settings
):
    settings.AFTERSALE_SMTP_LANES = 2
    orders = [make_order(store, customer, external_id=str(3000 + i)) for i in range(12)]
    messages = [
        message_enqueue(store=store, kind="order_confirmation", order=order)[0] for order in orders
    ]

    assert send_due_messages() == 12

    assert len(lanes_started) == 1
    assert not any(t.is_alive() for t in lanes_started[0].threads)
    sent = Message.objects.filter(pk__in=[m.pk for m in messages])
    assert set(sent.values_list("status", flat=True)) == {Message.Status.SENT}
    assert sent.filter(handed_off_at__isnull=True).count() == 0
    received = smtp_server.handler.message_ids()
    assert len(received) == 12
    assert set(received) == {f"<{m.public_id}@aftersale.invalid>" for m in messages}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lanes", [2, 1, 0], ids=["two-lanes", "one-lane", "in-turn"])
def test_server_gone_mid_batch_sends_nothing_twice_and_gives_the_rest_back(
    store, customer, settings, lanes_started, lanes
):
    settings.AFTERSALE_SMTP_LANES = lanes
    port = free_port()
    _use_smtp(settings, port)
    handler = StopsAfter(4)
    first = SmtpServer(port=port)
    first.handler = handler
    first.controller.handler = handler
    handler.server = first
    first.start()
    orders = [make_order(store, customer, external_id=str(4000 + i)) for i in range(10)]
    for order in orders:
        message_enqueue(store=store, kind="order_confirmation", order=order)

    send_due_messages()
    assert handler.stopped.wait(5)

    assert len(lanes_started) == (1 if lanes else 0)
    connections = max(lanes, 1)
    assert Message.objects.filter(status=Message.Status.SENDING).count() == 0
    sent_first = Message.objects.filter(status=Message.Status.SENT).count()
    assert sent_first >= 4
    waiting = Message.objects.filter(status=Message.Status.QUEUED)
    assert waiting.count() == 10 - sent_first
    # Only a message that met the closed door counts an attempt (one per connection at most);
    # the rest were given back untouched.
    attempts = sorted(waiting.values_list("attempts", flat=True))
    assert set(attempts) <= {0, 1}
    assert 1 <= attempts.count(1) <= connections

    second = SmtpServer(port=port).start()
    try:
        with time_machine.travel(clock.now() + dt.timedelta(minutes=10)):
            send_due_messages()
        assert Message.objects.filter(status=Message.Status.SENT).count() == 10
        received = handler.message_ids() + second.handler.message_ids()
        assert len(received) == len(set(received))  # never twice
        # A message whose connection died after its hand-off may or may not have reached the
        # server, so it is never sent again: at most one per connection in flight.
        missing = Message.objects.exclude(
            public_id__in=[r.strip("<>").split("@")[0] for r in received]
        )
        assert missing.count() <= connections
        assert missing.filter(handed_off_at__isnull=True).count() == 0
    finally:
        second.stop()


@pytest.mark.django_db
def test_each_store_in_a_batch_gets_its_own_template(store, customer):
    other = store_create(
        slug="zephyr", name="Zephyr Bikes", currency="EUR", time_zone="UTC", default_locale="en"
    )
    other_customer = Customer.objects.create(
        store=other, email="bo@example.com", first_name="Bo", locale="en"
    )
    for owner, word in ((store, "Acme"), (other, "Zephyr")):
        MessageTemplate.objects.create(
            store=owner,
            kind="order_confirmation",
            channel="email",
            locale="en",
            subject=f"{word} order {{{{ order.number }}}}",
            html_body="<p>Thanks</p>",
            text_body="Thanks",
        )
    customer.locale = "en"
    customer.save(update_fields=["locale"])
    message_enqueue(store=store, kind="order_confirmation", order=make_order(store, customer))
    message_enqueue(
        store=other,
        kind="order_confirmation",
        order=make_order(other, other_customer, external_id="77"),
    )

    assert send_due_messages() == 2

    assert sorted(m.subject for m in mail.outbox) == ["Acme order #1001", "Zephyr order #77"]
