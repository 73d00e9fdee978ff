"""The messaging back office: templates with a live preview, the message log and its actions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from aftersale.core import clock
from aftersale.core.services import store_member_add
from aftersale.messaging.kinds import all_kinds
from aftersale.messaging.locales import SUPPORTED
from aftersale.messaging.message_templates import default_template, ensure_store_templates
from aftersale.messaging.models import (
    KindPolicy,
    Message,
    MessageLog,
    MessageTemplate,
    Suppression,
)
from aftersale.messaging.preview import sms_segments
from aftersale.messaging.services import message_enqueue
from tests.messaging.conftest import make_order

pytestmark = pytest.mark.django_db

TEMPLATES_URL = "/admin/messaging/messagetemplate/"
MESSAGES_URL = "/admin/messaging/message/"


@pytest.fixture
def staff(client, django_user_model, store):
    """A staff member of `store` (not of `other_store`) with every messaging permission."""
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    store_member_add(store=store, username="ops")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="messaging"))
    client.force_login(user)
    return client


def template_of(store, kind="order_confirmation", channel="email", locale="en"):
    ensure_store_templates(store)
    return MessageTemplate.objects.get(store=store, kind=kind, channel=channel, locale=locale)


def form_data(template, **changes) -> dict:
    data = {
        "subject": template.subject,
        "preheader": template.preheader,
        "html_body": template.html_body,
        "text_body": template.text_body,
    }
    data.update(changes)
    return data


def preview_url(template) -> str:
    return f"{TEMPLATES_URL}{template.pk}/preview/"


def change_url(template) -> str:
    return f"{TEMPLATES_URL}{template.pk}/change/"


# -- templates ------------------------------------------------------------------------------


def test_opening_the_changelist_gives_the_store_every_shipped_default(staff, store, other_store):
    expected = {
        (kind.code, channel, locale)
        for kind in all_kinds()
        for channel in kind.channels
        for locale in SUPPORTED
        if default_template(kind.code, channel, locale) is not None
    }

    response = staff.get(TEMPLATES_URL)

    assert response.status_code == 200
    created = set(
        MessageTemplate.objects.filter(store=store).values_list("kind", "channel", "locale")
    )
    assert created == expected
    # Every kind ships its wording for each of its channels in all three locales.
    assert len(expected) == len(SUPPORTED) * sum(len(kind.channels) for kind in all_kinds())
    assert len(expected) >= 75  # messaging's own 17 kinds (8 with SMS), and the other apps'
    assert not MessageTemplate.objects.filter(store=other_store).exists()
    assert response.context["cl"].result_count == len(expected)


def test_changelist_filters_by_kind_channel_and_locale(staff, store):
    response = staff.get(TEMPLATES_URL, {"kind": "delivered", "channel": "sms", "locale": "de"})

    [row] = response.context["cl"].result_list
    assert (row.kind, row.channel, row.locale) == ("delivered", "sms", "de")


def test_preview_renders_the_newest_real_order_like_a_send(staff, store, customer, order):
    newer = make_order(store, customer, "1002", placed_at="2026-11-22T10:00:00Z")
    template = template_of(store)

    response = staff.post(preview_url(template), form_data(template))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Order #1002 confirmed" in body
    assert newer.number in body
    assert "€57.20" in body  # 2 × 19.90 + 12.50 + 4.90 shipping, formatted in English
    assert 'sandbox=""' in body
    assert "srcdoc=" in body
    assert "Total: €57.20" in body  # the text part


def test_preview_takes_another_order_by_number(staff, store, customer, order):
    make_order(store, customer, "1002", placed_at="2026-11-22T10:00:00Z")
    template = template_of(store)

    response = staff.post(preview_url(template), {**form_data(template), "preview_order": "1001"})

    body = response.content.decode()
    assert "Order #1001 confirmed" in body
    assert "Order #1002 confirmed" not in body


def test_preview_shows_the_part_and_the_unknown_variable(staff, store, order):
    template = template_of(store)

    response = staff.post(
        preview_url(template),
        form_data(template, html_body="<p>{{ order.numbr }}</p>"),
    )

    body = response.content.decode()
    assert "html: unknown variable {{ order.numbr }}" in body
    assert "cannot be sent" in body
    assert "srcdoc" not in body


def test_preview_without_orders_uses_the_built_in_sample(staff, store):
    template = template_of(store)

    response = staff.post(preview_url(template), form_data(template))

    body = response.content.decode()
    assert "no orders yet" in body
    assert "Order #1001 confirmed" in body
    assert "€57.20" in body


def test_sms_preview_counts_characters_and_segments(staff, store, order):
    template = template_of(store, kind="delivered", channel="sms")
    text = "{{ store.name }}: your order {{ order.number }} has been delivered."

    response = staff.post(preview_url(template), {"text_body": text})

    body = response.content.decode()
    expected = "Acme Outdoor: your order #1001 has been delivered."
    assert expected in body
    assert f"{len(expected)} characters · 1 segment (GSM-7)" in body
    assert "sample parcel" in body  # the order has no shipment yet


def test_sms_segments_follow_the_carrier_rules():
    assert sms_segments("a" * 160) == (160, 1, "GSM-7")
    assert sms_segments("a" * 161) == (161, 2, "GSM-7")
    assert sms_segments("€" * 80) == (80, 1, "GSM-7")  # extension characters count twice
    assert sms_segments("ç" * 70) == (70, 1, "UCS-2")
    assert sms_segments("ç" * 71) == (71, 2, "UCS-2")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"html_body": "<p>{{ order.numbr }}</p>"}, "html: unknown variable {{ order.numbr }}"),
        ({"subject": ""}, "subject: the subject is empty"),
        ({"text_body": "{% if order %}open"}, "text: Unclosed tag"),
        ({"preheader": "{{ shop.name }}"}, "preheader: unknown variable {{ shop.name }}"),
    ],
)
def test_saving_a_template_that_does_not_render_is_refused(staff, store, order, changes, error):
    template = template_of(store)
    before = form_data(template)

    response = staff.post(change_url(template), {**form_data(template, **changes), "_save": "1"})

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert any(error in message for message in form.non_field_errors())
    template.refresh_from_db()
    assert form_data(template) == before
    assert template.version == 1


def test_saving_a_good_template_bumps_the_version(staff, store, order):
    template = template_of(store)

    response = staff.post(
        change_url(template),
        {**form_data(template, subject="Thanks! Order {{ order.number }} is in"), "_save": "1"},
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.subject == "Thanks! Order {{ order.number }} is in"
    assert template.version == 2


def test_saving_an_sms_template_checks_only_the_text(staff, store, order):
    template = template_of(store, kind="delivered", channel="sms")

    refused = staff.post(change_url(template), {"text_body": "{{ order.numbr }}", "_save": "1"})
    saved = staff.post(change_url(template), {"text_body": "Delivered: {{ order.number }}"})

    assert "sms: unknown variable {{ order.numbr }}" in refused.content.decode()
    assert saved.status_code == 302
    template.refresh_from_db()
    assert (template.text_body, template.version) == ("Delivered: {{ order.number }}", 2)


def test_change_page_has_the_htmx_preview_panel(staff, store, order):
    template = template_of(store)

    body = staff.get(change_url(template)).content.decode()

    assert "htmx" in body and "<script" in body
    assert f'hx-post="{preview_url(template)}"' in body
    assert 'hx-trigger="load, input changed delay:400ms' in body
    assert 'name="preview_order"' in body


def test_reset_action_puts_the_shipped_default_back(staff, store):
    template = template_of(store)
    template.subject = "Something else"
    template.save()

    staff.post(TEMPLATES_URL, {"action": "reset_to_default", "_selected_action": [template.pk]})

    template.refresh_from_db()
    assert template.subject == "Order {{ order.number }} confirmed"
    assert template.version == 2


# -- tenancy --------------------------------------------------------------------------------


def test_staff_of_one_store_cannot_see_open_preview_or_change_anothers_templates(
    staff, store, other_store
):
    theirs = template_of(other_store)
    before = form_data(theirs)

    listing = staff.get(TEMPLATES_URL)
    opened = staff.get(change_url(theirs))
    previewed = staff.post(preview_url(theirs), form_data(theirs))
    saved = staff.post(change_url(theirs), {**form_data(theirs, subject="hijack"), "_save": "1"})
    staff.post(TEMPLATES_URL, {"action": "reset_to_default", "_selected_action": [theirs.pk]})

    assert {t.store_id for t in listing.context["cl"].result_list} == {store.pk}
    assert opened.status_code == 302  # Django's admin answers a hidden object with a redirect
    assert previewed.status_code == 404
    assert saved.status_code == 302
    theirs.refresh_from_db()
    assert form_data(theirs) == before
    assert theirs.version == 1


def test_staff_of_one_store_cannot_see_or_act_on_anothers_messages(staff, store, other_store):
    other_customer_order = make_order(other_store, None, "9001")
    theirs, _ = message_enqueue(
        store=other_store, kind="order_confirmation", order=other_customer_order
    )
    log_rows = MessageLog.objects.filter(message=theirs).count()

    listing = staff.get(MESSAGES_URL)
    opened = staff.get(f"{MESSAGES_URL}{theirs.pk}/change/")
    staff.post(MESSAGES_URL, {"action": "cancel", "_selected_action": [theirs.pk]})

    assert list(listing.context["cl"].result_list) == []
    assert opened.status_code == 302
    theirs.refresh_from_db()
    assert theirs.status == Message.Status.QUEUED
    assert MessageLog.objects.filter(message=theirs).count() == log_rows


# -- messages -------------------------------------------------------------------------------


def test_send_again_requeues_failed_and_expired_messages_now(staff, store, customer, order):
    failed, _ = message_enqueue(store=store, kind="order_confirmation", order=order)
    expired, _ = message_enqueue(store=store, kind="thank_you", order=order)
    sent, _ = message_enqueue(store=store, kind="delivered", order=order)
    Message.objects.filter(pk=failed.pk).update(
        status=Message.Status.FAILED, status_reason="template error", attempts=7
    )
    Message.objects.filter(pk=expired.pk).update(status=Message.Status.EXPIRED)
    Message.objects.filter(pk=sent.pk).update(status=Message.Status.SENT)
    before = clock.now()

    response = staff.post(
        MESSAGES_URL,
        {"action": "send_again", "_selected_action": [failed.pk, expired.pk, sent.pk]},
        follow=True,
    )

    for message in (failed, expired):
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        assert message.status_reason == ""
        assert message.attempts == 0
        assert message.expires_at is None
        assert before <= message.due_at <= clock.now()
        last = message.log.last()
        assert (last.status, last.detail.split(" (")[0]) == ("queued", "sent again by ops")
    sent.refresh_from_db()
    assert sent.status == Message.Status.SENT
    assert list(sent.log.values_list("status", flat=True)) == ["queued"]
    text = response.content.decode()
    assert "2 message(s) queued to go now." in text
    assert "1 skipped" in text


def test_cancel_suppresses_queued_messages_and_logs_who(staff, store, order):
    queued, _ = message_enqueue(store=store, kind="order_confirmation", order=order)
    sent, _ = message_enqueue(store=store, kind="thank_you", order=order)
    Message.objects.filter(pk=sent.pk).update(status=Message.Status.SENT)

    staff.post(MESSAGES_URL, {"action": "cancel", "_selected_action": [queued.pk, sent.pk]})

    queued.refresh_from_db()
    assert queued.status == Message.Status.SUPPRESSED
    assert queued.status_reason == "cancelled by ops"
    assert list(queued.log.values_list("status", "detail")) == [
        ("queued", ""),
        ("suppressed", "cancelled by ops"),
    ]
    sent.refresh_from_db()
    assert sent.status == Message.Status.SENT


def test_message_page_shows_the_log_and_the_email_as_sent(staff, store, order):
    message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)

    response = staff.get(f"{MESSAGES_URL}{message.pk}/change/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Order #1001 confirmed" in body
    assert 'sandbox=""' in body
    assert "Total: €57.20" in body
    assert 'name="_save"' not in body  # the log is read-only
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 1


def test_messages_are_searchable_by_recipient(staff, store, order):
    message, _ = message_enqueue(store=store, kind="order_confirmation", order=order)

    response = staff.get(MESSAGES_URL, {"q": "ana@example"})

    assert [m.pk for m in response.context["cl"].result_list] == [message.pk]


# -- suppressions ---------------------------------------------------------------------------


def test_staff_add_a_suppression_by_hand(staff, store):
    response = staff.post(
        "/admin/messaging/suppression/add/",
        {"store": store.pk, "channel": "email", "address": " Ana@Example.com ", "detail": ""},
    )

    assert response.status_code == 302
    row = Suppression.objects.get(store=store)
    assert (row.address, row.reason, row.detail) == (
        "ana@example.com",
        Suppression.Reason.MANUAL,
        "added by ops",
    )


def test_staff_cannot_add_a_suppression_to_another_store(staff, other_store):
    response = staff.post(
        "/admin/messaging/suppression/add/",
        {"store": other_store.pk, "channel": "email", "address": "x@example.com"},
    )

    assert response.status_code == 200  # the form refuses the store
    assert not Suppression.objects.exists()


def test_opening_the_changelist_again_creates_nothing_and_queries_little(
    staff, store, django_assert_max_num_queries
):
    staff.get(TEMPLATES_URL)
    count = MessageTemplate.objects.count()

    with django_assert_max_num_queries(9):
        staff.get(TEMPLATES_URL)

    assert MessageTemplate.objects.count() == count


def test_kind_policy_kind_is_a_registered_kind(staff, store):
    refused = staff.post(
        "/admin/messaging/kindpolicy/add/", {"store": store.pk, "kind": "no_such_kind"}
    )
    saved = staff.post(
        "/admin/messaging/kindpolicy/add/",
        {"store": store.pk, "kind": "birthday", "ignore_quiet_hours": "on"},
    )

    assert refused.status_code == 200
    assert "no_such_kind is not one of the available choices" in refused.content.decode()
    assert saved.status_code == 302
    assert list(KindPolicy.objects.values_list("store_id", "kind")) == [(store.pk, "birthday")]
