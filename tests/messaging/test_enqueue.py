"""Queueing messages: one message per key, every refusal recorded, quiet hours, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from aftersale.messaging.models import (
    ContactPreference,
    KindPolicy,
    Message,
    MessagingSettings,
    Suppression,
)
from aftersale.messaging.policy import QuietHours
from aftersale.messaging.services import message_enqueue

pytestmark = pytest.mark.django_db

# 12:00 UTC = 13:00 in Berlin: outside quiet hours.
NOON = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


@time_machine.travel(NOON, tick=False)
def test_same_key_gives_one_message(store, order):
    first, created = message_enqueue(store=store, kind="order_confirmation", order=order)
    again, created_again = message_enqueue(store=store, kind="order_confirmation", order=order)

    assert created and not created_again
    assert first.pk == again.pk
    assert Message.objects.count() == 1
    assert first.idempotency_key == f"order_confirmation:{order.public_id}:email:ana@example.com"
    assert first.status == Message.Status.QUEUED
    assert first.due_at == NOON
    assert list(first.log.values_list("status", flat=True)) == ["queued"]


@time_machine.travel(NOON, tick=False)
def test_marketing_without_consent_is_suppressed_with_reason(store, order, customer):
    customer.accepts_marketing = False
    customer.save()
    order.refresh_from_db()

    message, created = message_enqueue(store=store, kind="exclusive_offer", order=order)

    assert created
    assert message.status == Message.Status.SUPPRESSED
    assert message.status_reason == "no marketing consent"
    assert list(message.log.values_list("status", "detail")) == [
        ("suppressed", "no marketing consent")
    ]


@time_machine.travel(NOON, tick=False)
def test_transactional_ignores_consent_but_not_suppression(store, order, customer):
    customer.accepts_marketing = False
    customer.save()
    order.refresh_from_db()
    confirmation, _ = message_enqueue(store=store, kind="order_confirmation", order=order)
    Suppression.objects.create(
        store=store, channel="email", address="ana@example.com", reason="hard_bounce"
    )
    delivered, _ = message_enqueue(store=store, kind="delivered", order=order)

    assert confirmation.status == Message.Status.QUEUED
    assert delivered.status == Message.Status.SUPPRESSED
    assert delivered.status_reason == "address suppressed (hard bounce)"


@time_machine.travel(NOON, tick=False)
def test_opt_out_of_a_category_suppresses_only_that_category(store, order, customer):
    ContactPreference.objects.create(store=store, customer=customer, feedback=False)

    review, _ = message_enqueue(store=store, kind="review_request", order=order)
    offer, _ = message_enqueue(store=store, kind="exclusive_offer", order=order)

    assert review.status == Message.Status.SUPPRESSED
    assert review.status_reason == "opted out of feedback and review requests by email"
    assert offer.status == Message.Status.QUEUED


@time_machine.travel(NOON, tick=False)
def test_no_address_is_recorded_not_dropped(store):
    from aftersale.orders.schemas import OrderIn
    from aftersale.orders.services import order_upsert

    order = order_upsert(
        store=store,
        data=OrderIn(
            external_id="pos-1",
            placed_at="2026-11-20T10:00:00Z",
            channel="in_store",
            lines=[{"title": "Mug", "unit_price": "10", "quantity": 1}],
        ),
    ).order

    message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)

    assert message.status == Message.Status.SUPPRESSED
    assert message.status_reason == "no email address to send to"


def test_message_due_at_night_waits_until_morning_in_recipient_zone(store, order, customer):
    # 22:30 in Berlin (21:30 UTC): inside the default quiet hours 21:00–08:00.
    late = dt.datetime(2026, 11, 24, 21, 30, tzinfo=dt.UTC)
    with time_machine.travel(late, tick=False):
        message, _ = message_enqueue(store=store, kind="review_request", order=order)

    assert message.status == Message.Status.QUEUED
    # 08:00 Berlin on the 25th = 07:00 UTC.
    assert message.due_at == dt.datetime(2026, 11, 25, 7, 0, tzinfo=dt.UTC)
    assert "quiet hours" in message.log.get().detail


def test_quiet_hours_follow_the_customers_zone_not_the_stores(store, order, customer):
    customer.time_zone = "America/Sao_Paulo"  # 21:30 UTC = 18:30 in São Paulo
    customer.save()
    order.refresh_from_db()
    late = dt.datetime(2026, 11, 24, 21, 30, tzinfo=dt.UTC)
    with time_machine.travel(late, tick=False):
        message, _ = message_enqueue(store=store, kind="review_request", order=order)

    assert message.due_at == late


def test_per_kind_override_ignores_quiet_hours(store, order):
    KindPolicy.objects.create(store=store, kind="review_request", ignore_quiet_hours=True)
    late = dt.datetime(2026, 11, 24, 21, 30, tzinfo=dt.UTC)
    with time_machine.travel(late, tick=False):
        message, _ = message_enqueue(store=store, kind="review_request", order=order)

    assert message.due_at == late


def test_store_quiet_hours_setting_is_used(store, order):
    MessagingSettings.objects.create(
        store=store, quiet_hours_start=dt.time(22, 0), quiet_hours_end=dt.time(7, 0)
    )
    at = dt.datetime(2026, 11, 24, 20, 30, tzinfo=dt.UTC)  # 21:30 Berlin: allowed now
    with time_machine.travel(at, tick=False):
        message, _ = message_enqueue(store=store, kind="review_request", order=order)

    assert message.due_at == at


def test_marketing_message_expires_after_its_kind_window(store, order):
    with time_machine.travel(NOON, tick=False):
        message, _ = message_enqueue(store=store, kind="review_request", order=order)

    assert message.expires_at == NOON + dt.timedelta(days=14)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (dt.time(20, 59), False),
        (dt.time(21, 0), True),
        (dt.time(23, 59), True),
        (dt.time(0, 0), True),
        (dt.time(7, 59), True),
        (dt.time(8, 0), False),
    ],
)
def test_quiet_hours_window_across_midnight(local, expected):
    assert QuietHours(dt.time(21, 0), dt.time(8, 0)).contains(local) is expected


def test_quiet_hours_end_on_a_dst_change_day():
    quiet = QuietHours(dt.time(21, 0), dt.time(8, 0))
    # Night of the European change to summer time (29 March 2026, 02:00 → 03:00).
    night = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)  # 01:30 CET
    assert quiet.next_allowed(night, "Europe/Berlin") == dt.datetime(
        2026, 3, 29, 6, 0, tzinfo=dt.UTC
    )  # 08:00 CEST
