"""The Twilio SMS backend against a local HTTP server that checks each request like Twilio."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import time_machine

from aftersale.messaging.models import Message, MessagingSettings, Suppression
from aftersale.messaging.sending import send_due_messages
from aftersale.messaging.services import message_enqueue
from aftersale.tracking.models import Shipment

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "secret-token"
NOON = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


class FakeTwilio:
    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                auth = self.headers.get("Authorization", "")
                fake.requests.append({"path": self.path, "auth": auth, "form": parse_qs(body)})
                expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
                if auth != expected:
                    status, answer = 401, {"code": 20003, "message": "Authenticate"}
                elif self.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
                    status, answer = 404, {"code": 20404, "message": "not found"}
                elif fake.answers:
                    status, answer = fake.answers.pop(0)
                else:
                    n = len(fake.requests)
                    status, answer = 201, {"sid": f"SM{n:032d}", "status": "queued"}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def twilio(settings):
    fake = FakeTwilio()
    settings.AFTERSALE_SMS_BACKEND = "aftersale.messaging.sms.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_API_BASE = fake.base
    yield fake
    fake.server.shutdown()


@pytest.fixture
def sms_message(store, order):
    MessagingSettings.objects.create(store=store, sms_sender="+4915100000000")
    shipment = Shipment.objects.create(
        store=store, order=order, carrier="DHL", tracking_number="00340434161094042557"
    )
    with time_machine.travel(NOON, tick=False):
        message, _ = message_enqueue(
            store=store, kind="delivered", shipment=shipment, channel="sms"
        )
    return message


@pytest.mark.django_db
def test_sms_is_posted_to_twilio_with_auth_and_form(twilio, sms_message):
    with time_machine.travel(NOON, tick=False):
        send_due_messages()

    sms_message.refresh_from_db()
    assert sms_message.status == Message.Status.SENT
    assert sms_message.provider_message_id == "SM" + "1".zfill(32)
    [request] = twilio.requests
    assert request["form"] == {
        "To": ["+4915112345678"],
        "From": ["+4915100000000"],
        "Body": ["Acme Outdoor: your order #1001 has been delivered. Enjoy!"],
    }


@pytest.mark.django_db
def test_invalid_number_suppresses_it(twilio, sms_message):
    twilio.answers.append(
        (400, {"code": 21211, "message": "The 'To' number is not a valid phone number."})
    )
    with time_machine.travel(NOON, tick=False):
        send_due_messages()

    sms_message.refresh_from_db()
    assert sms_message.status == Message.Status.BOUNCED
    assert "21211" in sms_message.status_reason
    assert Suppression.objects.filter(channel="sms", address="+4915112345678").exists()


@pytest.mark.django_db
def test_twilio_outage_retries_later(twilio, sms_message):
    twilio.answers.append((503, {"code": 20500, "message": "Service unavailable"}))
    with time_machine.travel(NOON, tick=False):
        send_due_messages()
    sms_message.refresh_from_db()
    assert sms_message.status == Message.Status.QUEUED
    assert sms_message.handed_off_at is None
    assert "503" in sms_message.log.last().detail

    with time_machine.travel(sms_message.due_at + dt.timedelta(seconds=1), tick=False):
        send_due_messages()
    sms_message.refresh_from_db()
    assert sms_message.status == Message.Status.SENT
    assert len(twilio.requests) == 2


@pytest.mark.django_db
def test_wrong_credentials_fail_without_retry(twilio, sms_message, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with time_machine.travel(NOON, tick=False):
        send_due_messages()

    sms_message.refresh_from_db()
    assert sms_message.status == Message.Status.FAILED
    assert "20003" in sms_message.status_reason
