"""Bounces and complaints that providers report later, through django-anymail's webhooks."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from aftersale.messaging.models import Message, Suppression
from aftersale.messaging.sending import send_due_messages
from aftersale.messaging.services import message_enqueue

pytestmark = pytest.mark.django_db

SECRET = "hooks:s3cret-webhook-pass"


@pytest.fixture
def anymail_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


@pytest.fixture
def sent_message(store, order):
    message, _ = message_enqueue(
        store=store, kind="order_confirmation", order=order, not_before=None
    )
    Message.objects.filter(pk=message.pk).update(due_at=message.created_at)
    send_due_messages()
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    return message


def post_postmark(payload: dict, secret: str = SECRET):
    auth = base64.b64encode(secret.encode()).decode()
    return Client().post(
        "/anymail/postmark/tracking/",
        json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": f"Basic {auth}"},
    )


def postmark_bounce(message: Message, kind: str = "HardBounce") -> dict:
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"aftersale_message": message.public_id},
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": message.recipient,
        "From": "hello@acme.example",
        "BouncedAt": "2026-11-24T16:33:54.9070259Z",
        "Subject": message.subject,
    }


def test_hard_bounce_webhook_marks_the_message_and_suppresses_the_address(
    anymail_secret, store, sent_message
):
    response = post_postmark(postmark_bounce(sent_message))

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.BOUNCED
    suppression = Suppression.objects.get(store=store, address="ana@example.com")
    assert suppression.reason == "hard_bounce"
    assert "550 5.1.1" in suppression.detail


def test_spam_complaint_suppresses_the_address(anymail_secret, store, sent_message):
    payload = postmark_bounce(sent_message, kind="SpamComplaint")
    payload["RecordType"] = "SpamComplaint"

    assert post_postmark(payload).status_code == 200

    assert Suppression.objects.get(store=store, address="ana@example.com").reason == "complaint"
    assert sent_message.log.last().status == "complained"


def test_webhook_with_a_wrong_secret_changes_nothing(anymail_secret, store, sent_message):
    response = post_postmark(postmark_bounce(sent_message), secret="hooks:wrong")

    assert response.status_code in (400, 401, 403)
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT
    assert not Suppression.objects.exists()
