"""Tracking providers' webhooks: signature, storage, dedupe, then events on the shipment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from aftersale.integrations.carriers import carrier_process
from aftersale.integrations.models import InboundPayload
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.models import Shipment, TrackingEvent
from aftersale.tracking.schemas import ShipmentIn
from aftersale.tracking.selectors import tracking_unmapped_codes
from aftersale.tracking.services import shipment_upsert
from tests.integrations.conftest import queued_task_count, run_worker

pytestmark = pytest.mark.django_db

TRACKING_PAYLOADS = Path(__file__).resolve().parents[1] / "tracking" / "payloads"
SECRETS = {
    "easypost": "easypost-secret-for-tests",
    "aftership": "aftership-secret-for-tests",
    "shippo": "shippo-token-for-tests",
    "karrio": "karrio-secret-for-tests",
    "generic": "generic-secret-for-tests",
}


@pytest.fixture(autouse=True)
def carrier_secrets(settings, store):
    settings.AFTERSALE_CARRIER_WEBHOOK_SECRETS = {store.slug: dict(SECRETS)}


def _mac(provider: str, body: bytes) -> bytes:
    return hmac.new(SECRETS[provider].encode(), body, hashlib.sha256).digest()


def signed(provider: str, body: bytes) -> tuple[dict, str]:
    """(headers, query string) the way each provider proves a delivery."""
    if provider == "easypost":
        return {"X-Hmac-Signature": "hmac-sha256-hex=" + _mac(provider, body).hex()}, ""
    if provider == "aftership":
        return {"aftership-hmac-sha256": base64.b64encode(_mac(provider, body)).decode()}, ""
    if provider == "shippo":
        return {}, f"?token={SECRETS['shippo']}"
    if provider == "karrio":
        return {"X-Karrio-Signature": _mac(provider, body).hex()}, ""
    return {"X-Aftersale-Signature": _mac(provider, body).hex()}, ""


@pytest.fixture
def post(client, store):
    def send(provider: str, body: bytes | dict, *, headers=None, query=None, slug=None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        good_headers, good_query = signed(provider, raw)
        return client.post(
            f"/webhooks/carriers/{provider}/{slug or store.slug}"
            + (good_query if query is None else query),
            data=raw,
            content_type="application/json",
            headers=good_headers if headers is None else headers,
        )

    return send


def recorded(shared_data, name: str) -> bytes:
    return (shared_data / "payloads" / name).read_bytes()


def fixture_bytes(name: str) -> bytes:
    return (TRACKING_PAYLOADS / name).read_bytes()


def karrio_webhook(shared_data) -> dict:
    trackers, _ = json.loads(recorded(shared_data, "karrio_ups_tracking_parsed.json"))
    return {"event": "tracker_updated", "data": trackers[0]}


@pytest.fixture
def order(store):
    data = OrderIn(
        external_id="7001",
        placed_at="2024-01-01T10:00:00Z",
        email="ana@example.com",
        lines=[{"external_id": "a", "title": "Tent", "unit_price": "200", "quantity": 2}],
    )
    return order_upsert(store=store, data=data).order


@pytest.fixture
def make_shipment(store, order):
    def make(tracking_number: str, carrier: str = "", external_id: str | None = None) -> Shipment:
        result = shipment_upsert(
            store=store,
            data=ShipmentIn(
                order=order.public_id,
                external_id=external_id or f"s-{tracking_number}-{carrier}",
                carrier=carrier,
                tracking_number=tracking_number,
            ),
        )
        return result.shipment

    return make


def process_all() -> list[str]:
    return [
        carrier_process(payload_id=pk)
        for pk in InboundPayload.objects.order_by("id").values_list("pk", flat=True)
    ]


def events_of(shipment: Shipment) -> list[tuple]:
    return list(
        TrackingEvent.objects.filter(shipment=shipment)
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "status", "reason", "raw_status", "mapped", "source")
    )


# -- signatures -----------------------------------------------------------------------------------

BODIES = {
    "easypost": lambda d: recorded(d, "easypost_tracker_updated.json"),
    "aftership": lambda d: fixture_bytes("aftership_tracking_update.json"),
    "shippo": lambda d: fixture_bytes("shippo_track_updated.json"),
    "karrio": lambda d: json.dumps(karrio_webhook(d)).encode(),
    "generic": lambda d: json.dumps(
        {"tracking_number": "G1", "events": [{"occurred_at": "2024-01-01T00:00:00Z"}]}
    ).encode(),
}


@pytest.mark.parametrize("provider", list(BODIES))
def test_signed_delivery_is_stored_raw_and_queued(post, provider, shared_data, store):
    body = BODIES[provider](shared_data)

    response = post(provider, body)

    assert response.status_code == 202
    payload = InboundPayload.objects.get()
    assert response.json() == {"id": payload.public_id, "status": "received"}
    assert (payload.store, payload.platform, payload.status) == (store, provider, "received")
    assert payload.body == body.decode()
    assert queued_task_count() == 1


WRONG = {
    "easypost": ({"X-Hmac-Signature": "hmac-sha256-hex=" + "0" * 64}, ""),
    "aftership": ({"aftership-hmac-sha256": "d3Jvbmc="}, ""),
    "shippo": ({}, "?token=guess"),
    "karrio": ({"X-Karrio-Signature": "0" * 64}, ""),
    "generic": ({"X-Aftersale-Signature": "0" * 64}, ""),
}


@pytest.mark.parametrize("provider", list(BODIES))
@pytest.mark.parametrize("how", ["wrong", "missing"])
def test_bad_or_missing_signature_is_401_and_stores_nothing(post, provider, how, shared_data):
    headers, query = WRONG[provider] if how == "wrong" else ({}, "")

    response = post(provider, BODIES[provider](shared_data), headers=headers, query=query)

    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0
    assert queued_task_count() == 0


def test_signature_of_another_body_is_refused(client, store, shared_data):
    body = recorded(shared_data, "easypost_tracker_updated.json")
    headers, _ = signed("easypost", body)
    tampered = body.replace(b'"status":"in_transit"', b'"status":"delivered"', 1)

    response = client.post(
        f"/webhooks/carriers/easypost/{store.slug}",
        data=tampered,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0


def test_karrio_server_secret_header_is_accepted(post, shared_data):
    body = json.dumps(karrio_webhook(shared_data)).encode()

    response = post("karrio", body, headers={"X-Event-Id": SECRETS["karrio"]})

    assert response.status_code == 202


def test_store_without_secrets_refuses_everything(post, settings, shared_data):
    settings.AFTERSALE_CARRIER_WEBHOOK_SECRETS = {}

    response = post("easypost", recorded(shared_data, "easypost_tracker_updated.json"))

    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0


def test_unknown_store_or_provider_is_404(post, client, store):
    assert post("easypost", b"{}", slug="nobody").status_code == 404
    response = client.post(
        f"/webhooks/carriers/fedex/{store.slug}", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert InboundPayload.objects.count() == 0


def test_unreadable_body_is_400(post):
    assert post("generic", b"not json").status_code == 400
    assert InboundPayload.objects.count() == 0


def test_event_we_do_not_act_on_is_stored_as_ignored(post):
    response = post("shippo", {"event": "transaction_created", "data": {}})

    assert response.status_code == 200
    assert InboundPayload.objects.get().status == "ignored"
    assert queued_task_count() == 0


# -- dedupe ---------------------------------------------------------------------------------------


def test_repeat_delivery_is_stored_once(post, shared_data):
    body = recorded(shared_data, "easypost_tracker_updated.json")

    first, second = post("easypost", body), post("easypost", body)

    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == {"detail": "already received"}
    payload = InboundPayload.objects.get()
    assert (payload.delivery_id, payload.external_id, payload.object_ref) == (
        "evt_1",
        "1",
        "tracking:easypost:1",
    )
    assert queued_task_count() == 1


def test_repeat_without_an_event_id_is_deduped_by_body(post):
    body = fixture_bytes("shippo_track_updated.json")

    assert [post("shippo", body).status_code for _ in range(2)] == [202, 200]
    assert InboundPayload.objects.get().delivery_id.startswith("sha256:")


# -- processing -----------------------------------------------------------------------------------


def test_easypost_events_land_on_the_shipment(post, shared_data, make_shipment):
    shipment = make_shipment("1", carrier="FedEx")
    post("easypost", recorded(shared_data, "easypost_tracker_updated.json"))

    assert process_all() == ["processed"]

    shipment.refresh_from_db()
    assert shipment.status == "in_transit"
    assert events_of(shipment) == [
        (
            datetime(2024, 7, 31, 15, 0, tzinfo=UTC),
            "label_created",
            "",
            "pre_transit/label_created",
            True,
            "easypost",
        ),
        (
            datetime(2024, 7, 31, 19, 27, tzinfo=UTC),
            "in_transit",
            "",
            "in_transit/arrived_at_facility",
            True,
            "easypost",
        ),
        (
            datetime(2024, 7, 31, 22, 35, tzinfo=UTC),
            "in_transit",
            "",
            "in_transit/arrived_at_facility",
            True,
            "easypost",
        ),
        (
            datetime(2024, 8, 1, 14, 42, 13, tzinfo=UTC),
            "in_transit",
            "",
            "in_transit/departed_facility",
            True,
            "easypost",
        ),
        (
            datetime(2024, 8, 2, 2, 46, 19, tzinfo=UTC),
            "in_transit",
            "",
            "in_transit/unknown",
            True,
            "easypost",
        ),
        (
            datetime(2024, 8, 2, 18, 35, 20, tzinfo=UTC),
            "in_transit",
            "",
            "in_transit/unknown",
            True,
            "easypost",
        ),
        (
            datetime(2024, 8, 2, 18, 50, tzinfo=UTC),
            "in_transit",
            "",
            "in_transit/arrived_at_facility",
            True,
            "easypost",
        ),
    ]
    assert InboundPayload.objects.get().processed_at is not None


def test_aftership_statuses_and_reasons(post, make_shipment):
    shipment = make_shipment("1Z999AA10123456784", carrier="UPS")
    post("aftership", fixture_bytes("aftership_tracking_update.json"))

    process_all()

    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert shipment.delivered_at == datetime(2024, 3, 8, 17, 55, tzinfo=UTC)
    assert [(s, r, raw) for _, s, r, raw, _, _ in events_of(shipment)] == [
        ("label_created", "", "InfoReceived_001"),
        ("picked_up", "", "InTransit_002"),
        ("in_transit", "weather", "Exception_017"),
        ("attempt_failed", "recipient_absent", "AttemptFail_002"),
        ("delivered", "", "Delivered_001"),
    ]


def test_karrio_event_through_the_worker(shared_data, post, make_shipment):
    shipment = make_shipment("string", carrier="ups")
    post("karrio", json.dumps(karrio_webhook(shared_data)).encode())

    assert process_all() == ["processed"]

    assert events_of(shipment) == [
        (datetime(2021, 2, 10, 7, 13, tzinfo=UTC), "on_hold", "", "on_hold", True, "karrio")
    ]


def test_replayed_update_adds_no_event_twice(post, shared_data, make_shipment):
    shipment = make_shipment("1")
    body = json.loads(recorded(shared_data, "easypost_tracker_updated.json"))
    post("easypost", body)
    process_all()
    # The next update resends the whole history with a new event id.
    post("easypost", {**body, "id": "evt_2"})

    assert carrier_process(payload_id=InboundPayload.objects.get(delivery_id="evt_2").pk) == (
        "processed"
    )
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 7


def test_late_in_transit_after_delivered_keeps_delivered(post, make_shipment):
    shipment = make_shipment("1Z999AA10123456784")
    post("aftership", fixture_bytes("aftership_tracking_update.json"))
    process_all()
    late = json.loads(fixture_bytes("aftership_tracking_update.json"))
    late["event_id"] = "late-1"
    late["msg"]["checkpoints"] = [
        {
            "checkpoint_time": "2024-03-09T09:00:00Z",  # after the delivery, by its own time
            "tag": "InTransit",
            "subtag": "InTransit_003",
            "message": "Arrival scan (delayed upload)",
        },
        {
            "checkpoint_time": "2024-03-06T20:00:00Z",  # before it: placed by its own time
            "tag": "InTransit",
            "subtag": "InTransit_007",
            "message": "Departure scan",
        },
    ]
    post("aftership", late)

    process_all()

    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert shipment.delivered_at == datetime(2024, 3, 8, 17, 55, tzinfo=UTC)
    assert [raw for _, _, _, raw, _, _ in events_of(shipment)] == [
        "InfoReceived_001",
        "InTransit_002",
        "Exception_017",
        "InTransit_007",
        "AttemptFail_002",
        "Delivered_001",
        "InTransit_003",
    ]


def test_unknown_code_is_in_transit_unmapped_and_reported(post, make_shipment, store):
    shipment = make_shipment("9205590164917312751089")
    post("shippo", fixture_bytes("shippo_track_updated.json"))
    post(
        "generic",
        {
            "tracking_number": "9205590164917312751089",
            "events": [{"occurred_at": "2024-05-12T08:00:00Z", "status": "vanished"}],
        },
    )

    assert process_all() == ["processed", "processed"]

    unknown = TrackingEvent.objects.get(shipment=shipment, raw_status="TRANSIT/parcel_teleported")
    assert (unknown.status, unknown.mapped, unknown.source) == ("in_transit", False, "shippo")
    shipment.refresh_from_db()
    assert shipment.status == "returned_to_sender"
    rows = tracking_unmapped_codes(store=store)
    assert [(r.source, r.raw_status, r.events, r.shipments) for r in rows] == [
        ("generic", "vanished", 1, 1),
        ("shippo", "TRANSIT/parcel_teleported", 1, 1),
    ]


def test_unmapped_command_prints_the_report(post, make_shipment, capsys):
    make_shipment("9205590164917312751089")
    post("shippo", fixture_bytes("shippo_track_updated.json"))
    process_all()

    call_command("tracking_unmapped")

    out = capsys.readouterr().out
    assert "shippo    TRANSIT/parcel_teleported  1       1" in out
    assert "1 code(s) need a mapping" in out


def test_unknown_tracking_number_waits_with_the_reason(post):
    post("aftership", fixture_bytes("aftership_tracking_update.json"))

    assert process_all() == ["waiting"]

    payload = InboundPayload.objects.get()
    assert payload.status == "waiting"
    assert payload.last_error == (
        "no shipment with tracking number '1Z999AA10123456784' in this store yet"
    )
    assert TrackingEvent.objects.count() == 0


def test_same_number_at_two_carriers_goes_to_the_matching_one(post, make_shipment):
    ups = make_shipment("1Z999AA10123456784", carrier="UPS", external_id="a")
    other = make_shipment("1Z999AA10123456784", carrier="DHL Express", external_id="b")
    post("aftership", fixture_bytes("aftership_tracking_update.json"))

    process_all()

    assert TrackingEvent.objects.filter(shipment=ups).count() == 5
    assert TrackingEvent.objects.filter(shipment=other).count() == 0


def test_body_that_does_not_map_fails_with_the_reason(post):
    post("generic", {"tracking_number": "G1", "events": [{"occurred_at": "soon"}]})

    assert process_all() == ["failed"]
    assert "ValueError" in InboundPayload.objects.get().last_error


def test_other_store_is_untouched(post, make_shipment, other_store, settings):
    from aftersale.tracking.models import Shipment as S

    shipment = make_shipment("1Z999AA10123456784")
    settings.AFTERSALE_CARRIER_WEBHOOK_SECRETS = {other_store.slug: dict(SECRETS)}
    post("aftership", fixture_bytes("aftership_tracking_update.json"), slug=other_store.slug)

    assert process_all() == ["waiting"]
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 0
    assert S.objects.get(pk=shipment.pk).status == "registered"


@pytest.mark.django_db(transaction=True)
def test_worker_runs_the_queued_task(post, make_shipment):
    shipment = make_shipment("1Z999AA10123456784")
    post("aftership", fixture_bytes("aftership_tracking_update.json"))

    run_worker()

    assert InboundPayload.objects.get().status == "processed"
    assert Shipment.objects.get(pk=shipment.pk).status == "delivered"


def test_api_accepts_a_reason(api, make_shipment):
    shipment = make_shipment("API1")

    response = api.post(
        f"/api/v1/shipments/{shipment.public_id}/events",
        {
            "events": [
                {
                    "occurred_at": "2024-02-01T10:00:00Z",
                    "status": "on_hold",
                    "reason": "customs_delay",
                    "raw_status": "CH",
                }
            ]
        },
    )

    assert response.status_code == 200, response.content
    assert response.json()["shipment"]["events"][0]["reason"] == "customs_delay"
    event = TrackingEvent.objects.get(shipment=shipment)
    assert (event.status, event.reason, event.mapped, event.source) == (
        "on_hold",
        "customs_delay",
        True,
        "api",
    )


def test_api_refuses_an_unknown_reason(api, make_shipment):
    shipment = make_shipment("API2")
    body = {"events": [{"occurred_at": "2024-02-01T10:00:00Z", "reason": "gremlins"}]}

    response = api.post(f"/api/v1/shipments/{shipment.public_id}/events", body)

    assert response.status_code == 422
    assert TrackingEvent.objects.count() == 0


def test_store_secret_from_the_back_office_is_used(post, settings, store):
    settings.AFTERSALE_CARRIER_WEBHOOK_SECRETS = {}
    store.carrier_webhook_secrets = {"generic": SECRETS["generic"]}
    store.save()
    body = {"tracking_number": "ZZ1", "events": []}

    assert post("generic", body).status_code in (200, 202)
    settings.AFTERSALE_CARRIER_WEBHOOK_SECRETS = {}
    store.carrier_webhook_secrets = {}
    store.save()
    assert post("generic", {"tracking_number": "ZZ2", "events": []}).status_code == 401


def test_carrier_estimate_is_used_while_history_is_thin(post, shared_data, make_shipment):
    import time_machine

    from aftersale.tracking.models import DeliveryEstimate

    shipment = make_shipment("1", carrier="FedEx")
    post("easypost", recorded(shared_data, "easypost_tracker_updated.json"))

    with time_machine.travel("2024-08-02T20:00:00Z", tick=False):  # when EasyPost sent it
        process_all()

    latest = DeliveryEstimate.objects.filter(shipment=shipment).order_by("-id").first()
    assert latest is not None
    assert latest.source == "carrier"
    assert latest.estimated_date.isoformat() == "2024-08-05"


def test_admin_replay_processes_a_carrier_payload_again(post, shared_data, make_shipment):
    from aftersale.integrations.services import inbound_process

    post("easypost", recorded(shared_data, "easypost_tracker_updated.json"))
    assert process_all() == ["waiting"]  # no shipment with that number yet
    shipment = make_shipment("1", carrier="FedEx")
    payload = InboundPayload.objects.get()

    assert inbound_process(payload_id=payload.pk, force=True) == "processed"
    assert TrackingEvent.objects.filter(shipment=shipment).count() > 0
