import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django_tasks_db.models import DBTaskResult

from aftersale.core import clock
from aftersale.core.models import OutboxEvent, StoreAlert
from aftersale.core.services import DomainError
from aftersale.core.signing import verify_outbound
from aftersale.core.worker import build_worker
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.webhooks.models import WebhookDelivery, WebhookEndpoint
from aftersale.webhooks.services import (
    check_endpoint_url,
    deliver,
    delivery_replay,
    endpoint_create,
    fan_out,
)


class Receiver:
    """A real HTTP server on loopback that records requests; it can fail or hang on demand."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_next = 0
        self.hang_seconds = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                if receiver.hang_seconds:
                    time.sleep(receiver.hang_seconds)
                status = 200
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    status = 503
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def endpoint(store, receiver):
    return endpoint_create(store=store, url=receiver.url, event_types=["order.*"])


def make_order(store, external_id="1"):
    return order_upsert(
        store=store,
        data=OrderIn(
            external_id=external_id,
            placed_at="2026-05-01T10:00:00Z",
            lines=[{"title": "Mug", "unit_price": "10", "quantity": 1}],
        ),
    ).order


@pytest.mark.django_db(transaction=True)
def test_an_order_reaches_the_endpoint_once_signed_through_the_worker(store, endpoint, receiver):
    make_order(store)
    build_worker(queue_names=["*"], batch=True).run()
    build_worker(queue_names=["*"], batch=True).run()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    body = json.loads(request["body"])
    assert body["type"] == "order.created"
    assert body["store"] == "acme"
    assert body["data"]["external_id"] == "1"
    assert request["headers"]["Aftersale-Event-Id"] == body["id"]
    assert verify_outbound(
        endpoint.secret, request["body"], request["headers"]["Aftersale-Signature"]
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded"
    assert delivery.attempt_log.get().status_code == 200


@pytest.mark.django_db
def test_signature_fails_when_anything_is_tampered(store, endpoint, receiver):
    event = OutboxEvent.objects.create(
        store=store, name="order.created", aggregate="order:x", payload={"n": 1}
    )
    fan_out(event)
    deliver(delivery_id=WebhookDelivery.objects.get().pk, attempt=1)
    request = receiver.requests[0]
    header = request["headers"]["Aftersale-Signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))

    assert verify_outbound(endpoint.secret, request["body"], header)
    assert not verify_outbound(endpoint.secret, request["body"] + b" ", header)
    assert not verify_outbound("whsec_other", request["body"], header)
    assert not verify_outbound(endpoint.secret, request["body"], header, now=timestamp + 301)


def documented_verify(secret: str, body: bytes, header: str, now: int) -> bool:
    """The receiver's code exactly as docs/webhooks.md shows it."""
    import hashlib
    import hmac

    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp, received = int(fields["t"]), fields["v1"]
    if abs(now - timestamp) > 300:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, received)


@pytest.mark.django_db
def test_the_documented_algorithm_verifies_a_real_delivery(store, endpoint, receiver):
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    assert 'hmac.new(secret.encode(), f"{timestamp}.".encode() + body' in docs
    fan_out(
        OutboxEvent.objects.create(
            store=store, name="order.updated", aggregate="order:y", payload={}
        )
    )
    deliver(delivery_id=WebhookDelivery.objects.get().pk, attempt=1)
    request = receiver.requests[0]
    assert documented_verify(
        endpoint.secret,
        request["body"],
        request["headers"]["Aftersale-Signature"],
        int(time.time()),
    )


@pytest.mark.django_db
def test_failures_back_off_then_a_success_resets_the_streak(
    store, endpoint, receiver, time_machine
):
    time_machine.move_to("2026-06-01T12:00:00Z", tick=False)
    receiver.fail_next = 2
    fan_out(
        OutboxEvent.objects.create(
            store=store, name="order.created", aggregate="order:z", payload={}
        )
    )
    delivery = WebhookDelivery.objects.get()

    assert deliver(delivery_id=delivery.pk, attempt=1) == "failed: HTTP 503"
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=30)
    retries = [
        t
        for t in DBTaskResult.objects.filter(task_path__endswith="deliver_webhook")
        if t.args_kwargs["kwargs"] == {"delivery_id": delivery.pk, "attempt": 2}
    ]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.run_after == delivery.next_attempt_at

    deliver(delivery_id=delivery.pk, attempt=2)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=120)
    assert WebhookEndpoint.objects.get().failure_streak == 2

    assert deliver(delivery_id=delivery.pk, attempt=3) == "succeeded"
    assert WebhookEndpoint.objects.get().failure_streak == 0
    assert [a.status_code for a in delivery.attempt_log.all()] == [503, 503, 200]


@pytest.mark.django_db
def test_the_same_attempt_twice_sends_once(store, endpoint, receiver):
    fan_out(
        OutboxEvent.objects.create(
            store=store, name="order.created", aggregate="order:d", payload={}
        )
    )
    delivery = WebhookDelivery.objects.get()

    assert deliver(delivery_id=delivery.pk, attempt=1) == "succeeded"
    assert deliver(delivery_id=delivery.pk, attempt=1) == "done already"
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_endpoint_is_disabled_after_a_failure_streak_with_an_alert(
    store, endpoint, receiver, settings
):
    settings.AFTERSALE_WEBHOOK_DISABLE_AFTER_FAILURES = 3
    receiver.fail_next = 99
    for n in range(3):
        fan_out(
            OutboxEvent.objects.create(
                store=store, name="order.created", aggregate=f"order:{n}", payload={}
            )
        )
    for delivery in WebhookDelivery.objects.order_by("id"):
        deliver(delivery_id=delivery.pk, attempt=1)

    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert "3 failed attempts in a row" in endpoint.disabled_reason
    alert = StoreAlert.objects.get(kind="webhook_endpoint_disabled")
    assert endpoint.url in alert.message
    # While disabled nothing is sent and new events make no deliveries.
    sent = len(receiver.requests)
    fan_out(
        OutboxEvent.objects.create(
            store=store, name="order.created", aggregate="order:9", payload={}
        )
    )
    assert WebhookDelivery.objects.count() == 3
    assert deliver(delivery_id=WebhookDelivery.objects.first().pk, attempt=2) == (
        "endpoint disabled"
    )
    assert len(receiver.requests) == sent


@pytest.mark.django_db
def test_a_re_dispatched_event_makes_no_second_delivery_but_a_replay_does(
    store, endpoint, receiver
):
    event = OutboxEvent.objects.create(
        store=store, name="order.created", aggregate="order:r", payload={}
    )
    assert fan_out(event) == 1
    assert fan_out(event) == 0
    original = WebhookDelivery.objects.get()
    deliver(delivery_id=original.pk, attempt=1)
    replay = delivery_replay(store=store, delivery=original)
    deliver(delivery_id=replay.pk, attempt=1)

    assert replay.replay_of == original
    ids = [r["headers"]["Aftersale-Event-Id"] for r in receiver.requests]
    assert ids == [event.public_id, event.public_id]
    assert len({r["headers"]["Aftersale-Delivery-Id"] for r in receiver.requests}) == 2


@pytest.mark.django_db
def test_a_hanging_receiver_is_a_recorded_timeout(store, endpoint, receiver, settings):
    settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.hang_seconds = 2
    fan_out(
        OutboxEvent.objects.create(
            store=store, name="order.created", aggregate="order:t", payload={}
        )
    )
    delivery = WebhookDelivery.objects.get()

    assert deliver(delivery_id=delivery.pk, attempt=1) == "failed: timed out after 1s"
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert attempt.duration_ms >= 900


@pytest.mark.django_db
def test_endpoint_urls_are_checked(settings, store):
    settings.AFTERSALE_WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False
    for url, message in [
        ("http://hooks.example.com/x", "must use https"),
        ("https://127.0.0.1/x", "private or local"),
        ("https://10.1.2.3/x", "private or local"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("ftp://hooks.example.com/x", "absolute https"),
    ]:
        with pytest.raises(DomainError) as err:
            check_endpoint_url(url)
        assert message in err.value.message
        assert err.value.field == "url"
    with pytest.raises(DomainError) as err:
        endpoint_create(store=store, url="https://hooks.example.com/x", event_types=["Order!"])
    assert err.value.field == "event_types.0"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_endpoint_api(api, other_api, receiver):
    created = api.post(
        "/api/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["order.*", "shipment.*"]}
    )
    endpoint_id = created.json()["id"]
    patched = api.patch(f"/api/v1/webhook-endpoints/{endpoint_id}", {"event_types": ["*"]})
    test = api.post(f"/api/v1/webhook-endpoints/{endpoint_id}/test")
    deliver(delivery_id=WebhookDelivery.objects.get().pk, attempt=1)
    listed = api.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries")
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
    bad = api.post("/api/v1/webhook-endpoints", {"url": "not a url", "event_types": ["*"]})

    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert "secret" not in patched.json()
    assert patched.json()["event_types"] == ["*"]
    assert test.status_code == 202
    assert listed.json()["data"][0]["event_type"] == "webhook.test"
    assert listed.json()["data"][0]["attempt_log"][0]["status_code"] == 200
    assert rotated.json()["secret"] != created.json()["secret"]
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "url"
    assert other_api.get("/api/v1/webhook-endpoints").json() == []
    assert api.delete(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
