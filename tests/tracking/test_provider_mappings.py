"""Tracking providers' bodies mapped through the crosswalk: recorded payloads, whole results."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from aftersale.tracking.models import EventReason, ShipmentStatus
from aftersale.tracking.providers import (
    MappedEvent,
    TrackingUpdate,
    map_aftership,
    map_easypost,
    map_generic,
    map_karrio,
    map_shippo,
)
from aftersale.tracking.providers import crosswalk as cw
from aftersale.tracking.providers.doc import render_markdown
from aftersale.tracking.providers.mapping import REASONS, STATUSES

PAYLOADS = Path(__file__).parent / "payloads"
ROOT = Path(__file__).resolve().parents[2]


def fixture(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def ev(when, status, raw_status, raw_text, location, reason="", mapped=True) -> MappedEvent:
    return MappedEvent(
        occurred_at=when,
        status=status,
        reason=reason,
        raw_status=raw_status,
        raw_text=raw_text,
        location=location,
        mapped=mapped,
    )


# -- recorded payloads ----------------------------------------------------------------------------


def test_easypost_tracker_updated(payload):
    result = map_easypost(payload("easypost_tracker_updated.json"))

    assert result == TrackingUpdate(
        tracking_number="1",
        carrier="FedEx",
        events=[
            ev(
                at(2024, 7, 31, 15, 0),
                "label_created",
                "pre_transit/label_created",
                "Shipment information sent to FedEx",
                "32837, US",
            ),
            ev(
                at(2024, 7, 31, 19, 27),
                "in_transit",
                "in_transit/arrived_at_facility",
                "Picked up",
                "ORLANDO, FL, 32809, US",
            ),
            ev(
                at(2024, 7, 31, 22, 35),
                "in_transit",
                "in_transit/arrived_at_facility",
                "Arrived at FedEx location",
                "ORLANDO, FL, 32809, US",
            ),
            ev(
                at(2024, 8, 1, 14, 42, 13),
                "in_transit",
                "in_transit/departed_facility",
                "Departed FedEx location",
                "ORLANDO, FL, 32809, US",
            ),
            ev(
                at(2024, 8, 2, 2, 46, 19),
                "in_transit",
                "in_transit/unknown",
                "On the way",
                "KENLY, NC, 27542, US",
            ),
            ev(
                at(2024, 8, 2, 18, 35, 20),
                "in_transit",
                "in_transit/unknown",
                "On the way",
                "EDISON TWP, NJ, 08817, US",
            ),
            ev(
                at(2024, 8, 2, 18, 50),
                "in_transit",
                "in_transit/arrived_at_facility",
                "Arrived at FedEx location",
                "EDISON, NJ, 08817, US",
            ),
        ],
        # carrier_detail.est_delivery_date_local, the carrier's own date
        estimated_delivery=date(2024, 8, 5),
        status="in_transit",
    )


def test_karrio_parsed_tracker(payload):
    trackers, _messages = payload("karrio_ups_tracking_parsed.json")

    result = map_karrio(trackers[0])

    assert result == TrackingUpdate(
        tracking_number="string",  # the UPS documentation example Karrio tests with
        carrier="ups",
        events=[
            ev(
                at(2021, 2, 10, 7, 13),
                "on_hold",
                "on_hold",
                "Your package was released by the customs agency.",
                "Wayne, NJ, 07470, US",
            )
        ],
        estimated_delivery=None,
        status="on_hold",
    )


def test_karrio_webhook_envelope_and_date_time_fallback(payload):
    trackers, _ = payload("karrio_ups_tracking_parsed.json")
    tracker = trackers[0]
    event = {k: v for k, v in tracker["events"][0].items() if k != "timestamp"}
    event.update(status="delivery_failed", reason="consignee_not_home")
    body = {"event": "tracker_updated", "data": {**tracker, "events": [event]}}

    result = map_karrio(body)

    assert result.events == [
        ev(
            at(2021, 2, 10, 7, 13),  # "2021-02-10" + "07:13 AM", read as UTC
            "attempt_failed",
            "delivery_failed/consignee_not_home",
            "Your package was released by the customs agency.",
            "Wayne, NJ, 07470, US",
            reason="recipient_absent",
        )
    ]
    assert result.status == "attempt_failed"


def test_aftership_tracking_update():
    result = map_aftership(fixture("aftership_tracking_update.json"))

    assert result == TrackingUpdate(
        tracking_number="1Z999AA10123456784",
        carrier="ups",
        events=[
            ev(
                at(2024, 3, 4, 16, 2),  # 10:02-06:00
                "label_created",
                "InfoReceived_001",
                "Shipper created a label, UPS has not received the package yet.",
                "USA",
            ),
            ev(
                at(2024, 3, 5, 0, 44),
                "picked_up",
                "InTransit_002",
                "Pickup Scan",
                "Dallas, TX, United States",
            ),
            ev(
                at(2024, 3, 6, 2, 31),  # no offset in the payload: read as UTC
                "in_transit",
                "Exception_017",
                "Delayed due to weather conditions",
                "Memphis, TN, USA",
                reason="weather",
            ),
            ev(
                at(2024, 3, 7, 13, 10),
                "attempt_failed",
                "AttemptFail_002",
                "The receiver was not available for delivery. We'll make a second attempt the "
                "next business day.",
                "Brooklyn, NY, United States",
                reason="recipient_absent",
            ),
            ev(
                at(2024, 3, 8, 17, 55),
                "delivered",
                "Delivered_001",
                "Delivered",
                "Brooklyn, NY, United States",
            ),
        ],
        estimated_delivery=date(2024, 3, 8),
        status="delivered",
    )


def test_shippo_track_updated():
    result = map_shippo(fixture("shippo_track_updated.json"))

    assert result == TrackingUpdate(
        tracking_number="9205590164917312751089",
        carrier="usps",
        events=[
            ev(
                at(2024, 5, 6, 19, 58),
                "label_created",
                "PRE_TRANSIT/information_received",
                "Shipping Label Created, USPS Awaiting Item",
                "Las Vegas, NV, 89101, US",
            ),
            ev(
                at(2024, 5, 7, 1, 35),
                "picked_up",
                "TRANSIT/package_accepted",
                "USPS in possession of item",
                "Las Vegas, NV, 89199, US",
            ),
            ev(
                at(2024, 5, 9, 16, 12),
                "in_transit",
                "TRANSIT/address_issue",
                "Addressee Unknown",
                "Spotsylvania, VA, 22551, US",
                reason="address_problem",
            ),
            ev(
                at(2024, 5, 9, 16, 20),
                "returning_to_sender",
                "TRANSIT/return_to_sender",
                "Return to Sender",
                "Spotsylvania, VA, 22551, US",
            ),
            # A substatus the crosswalk does not know: the main code's status, flagged.
            ev(
                at(2024, 5, 10, 7, 41),
                "in_transit",
                "TRANSIT/parcel_teleported",
                "Processed through facility",
                "Richmond, VA, 23232, US",
                mapped=False,
            ),
            ev(
                at(2024, 5, 11, 14, 48),
                "returned_to_sender",
                "RETURNED/package_returned",
                "Your item was returned to the sender.",
                "Las Vegas, NV, 89101, US",
            ),
        ],
        estimated_delivery=date(2024, 5, 10),
        status="returned_to_sender",
    )


# -- unknown codes, times, the generic format -----------------------------------------------------


def test_unknown_main_code_is_in_transit_not_mapped_raw_kept():
    body = {
        "object": "Event",
        "id": "evt_2",
        "description": "tracker.updated",
        "result": {
            "tracking_code": "EZ1",
            "carrier": "USPS",
            "status": "beamed_up",
            "tracking_details": [
                {
                    "status": "beamed_up",
                    "status_detail": "weather_delay",
                    "message": "Transporter room",
                    "datetime": "2024-01-02T03:04:05",
                    "tracking_location": {"city": "Riverside", "country": "US"},
                }
            ],
        },
    }

    result = map_easypost(body)

    assert result == TrackingUpdate(
        tracking_number="EZ1",
        carrier="USPS",
        events=[
            ev(
                at(2024, 1, 2, 3, 4, 5),
                "in_transit",
                "beamed_up/weather_delay",
                "Transporter room",
                "Riverside, US",
                reason="weather",  # the detail is known, so its reason still counts
                mapped=False,
            )
        ],
        estimated_delivery=None,
        status="in_transit",
    )


def test_offsets_are_kept_and_naive_times_read_as_utc():
    body = {
        "msg": {
            "tracking_number": "X1",
            "slug": "dhl",
            "checkpoints": [
                {"checkpoint_time": "2024-03-06T02:31:00+09:00", "tag": "InTransit"},
                {"checkpoint_time": "2024-03-06", "tag": "InTransit"},
            ],
        }
    }

    result = map_aftership(body)

    assert [e.occurred_at for e in result.events] == [at(2024, 3, 5, 17, 31), at(2024, 3, 6)]


def test_events_come_back_oldest_first_and_status_is_the_latest():
    body = {
        "tracking_number": "G1",
        "events": [
            {"occurred_at": "2024-01-03T10:00:00Z", "status": "delivered"},
            {"occurred_at": "2024-01-01T10:00:00Z", "status": "picked_up"},
            {
                "occurred_at": "2024-01-02T10:00:00+01:00",
                "status": "on_hold",
                "reason": "customs_delay",
                "raw_status": "CH",
                "raw_text": "Held by customs",
                "location": "Leipzig, DE",
            },
            {"occurred_at": "2024-01-02T12:00:00Z", "status": "teleported", "reason": "aliens"},
        ],
    }

    result = map_generic(body)

    assert result == TrackingUpdate(
        tracking_number="G1",
        carrier="",
        events=[
            ev(at(2024, 1, 1, 10), "picked_up", "", "", ""),
            ev(
                at(2024, 1, 2, 9),
                "on_hold",
                "CH",
                "Held by customs",
                "Leipzig, DE",
                reason="customs_delay",
            ),
            ev(at(2024, 1, 2, 12), "in_transit", "teleported/aliens", "", "", mapped=False),
            ev(at(2024, 1, 3, 10), "delivered", "", "", ""),
        ],
        estimated_delivery=None,
        status="delivered",
    )


def test_no_events_takes_the_providers_summary():
    body = {"msg": {"tracking_number": "A1", "slug": "ups", "tag": "Pending", "checkpoints": []}}

    assert map_aftership(body).status == "registered"


@pytest.mark.parametrize(
    ("mapper", "body"),
    [
        (map_easypost, {"object": "Event", "result": {"tracking_details": []}}),
        (map_shippo, {"data": {"tracking_number": "", "tracking_history": []}}),
        (map_generic, {"tracking_number": "Z", "events": [{"status": "delivered"}]}),
        (map_generic, {"tracking_number": "Z", "events": [{"occurred_at": "yesterday"}]}),
    ],
    ids=["no-number", "empty-number", "no-time", "bad-time"],
)
def test_bodies_that_cannot_map_raise_value_error(mapper, body):
    with pytest.raises(ValueError):
        mapper(body)


# -- the crosswalk itself -------------------------------------------------------------------------


def test_the_mappers_vocabulary_is_the_models():
    assert set(STATUSES) == set(ShipmentStatus.values)
    assert set(REASONS) == set(EventReason.values)


CROSSWALK_ENTRIES = [
    pytest.param(walk.provider, level, code, entry, id=f"{walk.provider}:{code}")
    for walk in cw.CROSSWALKS
    for level, table in (("main", walk.main), ("detail", walk.detail))
    for code, entry in table.items()
]


@pytest.mark.parametrize(("provider", "level", "code", "entry"), CROSSWALK_ENTRIES)
def test_every_crosswalk_entry_is_canonical(provider, level, code, entry):
    if level == "main":
        assert entry.status in ShipmentStatus.values
    else:
        assert entry.status is None or entry.status in ShipmentStatus.values
    assert entry.reason == "" or entry.reason in EventReason.values
    assert code == code.strip() and code


def test_every_main_code_maps_through_its_mapper():
    # One event per main code, through the real mapper: each comes back mapped, as tabled.
    for code, entry in cw.EASYPOST_STATUSES.items():
        body = {
            "tracking_code": "T",
            "tracking_details": [{"status": code, "datetime": "2024-01-01T00:00:00Z"}],
        }
        (event,) = map_easypost(body).events
        assert (event.status, event.reason, event.mapped) == (entry.status, entry.reason, True)
    for code, entry in cw.SHIPPO_STATUSES.items():
        body = {
            "tracking_number": "T",
            "tracking_history": [{"status": code, "status_date": "2024-01-01T00:00:00Z"}],
        }
        (event,) = map_shippo(body).events
        assert (event.status, event.reason, event.mapped) == (entry.status, entry.reason, True)
    for code, entry in cw.AFTERSHIP_TAGS.items():
        body = {
            "tracking_number": "T",
            "checkpoints": [{"tag": code, "checkpoint_time": "2024-01-01T00:00:00Z"}],
        }
        (event,) = map_aftership(body).events
        assert (event.status, event.reason, event.mapped) == (entry.status, entry.reason, True)
    for code, entry in cw.KARRIO_STATUSES.items():
        body = {
            "tracking_number": "T",
            "events": [{"status": code, "timestamp": "2024-01-01T00:00:00Z"}],
        }
        (event,) = map_karrio(body).events
        assert (event.status, event.reason, event.mapped) == (entry.status, entry.reason, True)


def test_aftership_subtags_belong_to_a_known_tag():
    for subtag in cw.AFTERSHIP_SUBTAGS:
        assert subtag.split("_")[0] in cw.AFTERSHIP_TAGS


def test_the_published_doc_is_generated_from_the_crosswalk():
    committed = (ROOT / "docs" / "tracking-statuses.md").read_text(encoding="utf-8")

    assert committed == render_markdown(), "run python scripts/crosswalk_doc.py"
