"""Shipment issues: each kind raised once with its outbox event, resolved when it stops holding,
never late after delivered; the periodic scan; the back-office watchlist."""

from __future__ import annotations

import datetime as dt
from datetime import UTC

import pytest
from django.contrib.auth.models import Permission

from aftersale.core.models import OutboxEvent
from aftersale.core.services import store_member_add
from aftersale.core.tasks import periodic_jobs
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.issues import issues_scan, stalled_days
from aftersale.tracking.models import Shipment, ShipmentIssue
from aftersale.tracking.schemas import ShipmentIn, TrackingEventIn
from aftersale.tracking.services import shipment_upsert, tracking_events_add
from aftersale.tracking.tasks import scan_shipment_issues

pytestmark = pytest.mark.django_db

SHIPPED = "2026-11-17T10:00:00Z"  # a Tuesday; the store (conftest) is in Europe/Berlin
PROMISED = "2026-11-20"
WATCHLIST_URL = "/admin/tracking/watchlist/"


def at(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(at(17, 11), tick=False)
    return time_machine


def make_order(store, external_id="7001"):
    data = OrderIn(
        external_id=external_id,
        number=f"#{external_id}",
        placed_at="2026-11-16T10:00:00Z",
        email="ana@example.com",
        lines=[{"external_id": "a", "title": "Boots", "unit_price": "120", "quantity": 1}],
    )
    return order_upsert(store=store, data=data).order


def ship(store, order=None, external_id="p1", **extra) -> Shipment:
    order = order or make_order(store)
    data = {
        "order": order.public_id,
        "external_id": external_id,
        "carrier": "DHL",
        "shipped_at": SHIPPED,
        "promised_delivery_date": PROMISED,
        **extra,
    }
    return shipment_upsert(store=store, data=ShipmentIn(**data)).shipment


def scan(shipment, when, status, *, reason=None, text="", location="") -> Shipment:
    event = TrackingEventIn(
        occurred_at=when,
        status=status,
        raw_status=status.upper(),
        raw_text=text,
        location=location,
        reason=reason,
    )
    tracking_events_add(store=shipment.store, shipment=shipment, events=[event])
    shipment.refresh_from_db()
    return shipment


def issues(shipment) -> list[tuple[str, bool]]:
    """(kind, open) of the shipment's issues, by kind."""
    rows = ShipmentIssue.objects.filter(shipment=shipment).order_by("kind")
    return [(i.kind, i.resolved_at is None) for i in rows]


def issue_events(name: str | None = None) -> list[OutboxEvent]:
    qs = OutboxEvent.objects.filter(name__in=[f"shipment.{k}" for k in ShipmentIssue.Kind.values])
    if name:
        qs = qs.filter(name=name)
    return list(qs.order_by("id"))


# -- event-driven kinds ---------------------------------------------------------------------


def test_an_exception_is_raised_once_with_its_event_and_resolved_when_the_parcel_moves(store, now):
    shipment = ship(store)
    scan(shipment, at(17, 12), "in_transit")
    assert issues(shipment) == []

    scan(
        shipment,
        at(18, 8),
        "exception",
        reason="address_problem",
        text="Address incomplete, parcel held at depot",
    )
    scan(shipment, at(18, 9), "exception", reason="address_problem", text="Still held")

    [issue] = ShipmentIssue.objects.filter(shipment=shipment)
    assert (issue.kind, issue.resolved_at) == ("exception", None)
    assert issue.detail == "Address problem: Still held"
    assert issue.detected_at == at(17, 11)
    [event] = issue_events()
    assert event.name == "shipment.exception"
    assert event.aggregate == f"order:{shipment.order.public_id}"
    assert event.payload["id"] == shipment.public_id
    assert event.payload["status"] == "exception"
    assert event.payload["issue"] == {
        "kind": "exception",
        "detail": "Address problem: Address incomplete, parcel held at depot",
        "detected_at": at(17, 11).isoformat(),
    }

    now.move_to(at(19, 9), tick=False)
    scan(shipment, at(19, 8), "in_transit", text="Address corrected")
    issue.refresh_from_db()
    assert issue.resolved_at == at(19, 9)

    # A second exception reopens it for the watchlist, but the shopper was told already.
    scan(shipment, at(19, 12), "exception", reason="damaged", text="Box damaged")
    issue.refresh_from_db()
    assert (issue.resolved_at, issue.detail) == (None, "Damaged: Box damaged")
    assert len(issue_events()) == 1


def test_on_hold_is_an_exception_only_with_a_reason(store, now):
    plain = ship(store, external_id="p1")
    scan(plain, at(18, 8), "on_hold")
    with_reason = ship(store, make_order(store, "7002"), external_id="p2")
    scan(with_reason, at(18, 8), "on_hold", reason="customs_delay", text="Held by customs")

    assert issues(plain) == []
    assert issues(with_reason) == [("exception", True)]
    assert ShipmentIssue.objects.get(shipment=with_reason).detail == (
        "Customs delay: Held by customs"
    )


@pytest.mark.parametrize(
    ("status", "kwargs", "kind", "detail"),
    [
        (
            "attempt_failed",
            {"reason": "recipient_absent", "text": "Nobody home"},
            "attempt_failed",
            "Recipient absent: Nobody home",
        ),
        (
            "ready_for_pickup",
            {"location": "Packstation 123, Berlin"},
            "ready_for_pickup",
            "waiting at Packstation 123, Berlin",
        ),
        ("returning_to_sender", {}, "returning_to_sender", "Returning to sender"),
    ],
)
def test_status_issues_are_raised_once_with_their_event(store, now, status, kwargs, kind, detail):
    shipment = ship(store)
    scan(shipment, at(18, 8), status, **kwargs)
    scan(shipment, at(18, 9), status, **kwargs)

    [issue] = ShipmentIssue.objects.filter(shipment=shipment)
    assert (issue.kind, issue.detail, issue.resolved_at) == (kind, detail, None)
    [event] = issue_events()
    assert event.name == f"shipment.{kind}"
    assert event.payload["issue"]["kind"] == kind


def test_attempt_failed_and_pickup_resolve_when_the_parcel_moves_on(store, now):
    shipment = ship(store)
    scan(shipment, at(18, 8), "attempt_failed", reason="recipient_absent")
    scan(shipment, at(18, 12), "ready_for_pickup", location="Post office Mitte")
    assert issues(shipment) == [("attempt_failed", False), ("ready_for_pickup", True)]

    scan(shipment, at(19, 12), "delivered")

    assert issues(shipment) == [("attempt_failed", False), ("ready_for_pickup", False)]


def test_returning_to_sender_stays_open_for_staff_once_returned(store, now):
    shipment = ship(store)
    scan(shipment, at(18, 8), "returning_to_sender", reason="refused")
    scan(shipment, at(20, 8), "returned_to_sender")

    assert issues(shipment) == [("returning_to_sender", True)]
    assert [e.name for e in issue_events()] == ["shipment.returning_to_sender"]


def test_a_scan_saying_lost_raises_lost_and_exception(store, now):
    shipment = ship(store)
    scan(shipment, at(18, 8), "exception", reason="lost", text="Parcel cannot be located")

    assert issues(shipment) == [("exception", True), ("lost", True)]
    assert sorted(e.name for e in issue_events()) == ["shipment.exception", "shipment.lost"]
    assert ShipmentIssue.objects.get(shipment=shipment, kind="lost").detail == (
        "Lost: Parcel cannot be located"
    )


def test_an_invalid_tracking_number_is_raised_and_resolved_when_corrected(store, now):
    order = make_order(store)
    shipment = ship(store, order, carrier="UPS", tracking_number="1Z999AA10123456785")
    assert shipment.tracking_number_valid is False

    [issue] = ShipmentIssue.objects.filter(shipment=shipment)
    assert (issue.kind, issue.detail) == (
        "invalid_tracking_number",
        "ups number 1Z999AA10123456785 fails its check",
    )
    [event] = issue_events()
    assert event.name == "shipment.invalid_tracking_number"

    ship(store, order, carrier="UPS", tracking_number="1Z999AA10123456784")
    issue.refresh_from_db()
    assert issue.resolved_at == at(17, 11)
    assert len(issue_events()) == 1


def test_a_scan_keeps_last_event_at_at_the_newest_scan(store, now):
    shipment = ship(store)
    scan(shipment, at(18, 8), "in_transit")
    scan(shipment, at(17, 20), "picked_up")  # arrives late, happened earlier

    assert shipment.last_event_at == at(18, 8)


# -- late -------------------------------------------------------------------------------------


def test_late_is_raised_by_the_scan_after_the_promised_day_in_the_stores_time_zone(store, now):
    shipment = ship(store)
    scan(shipment, at(18, 8), "in_transit")

    now.move_to(at(20, 22, 30), tick=False)  # 23:30 on the 20th in Berlin: still the day
    assert issues_scan() == 0
    now.move_to(at(20, 23, 30), tick=False)  # 00:30 on the 21st in Berlin
    assert issues_scan() == 1
    assert issues_scan() == 0  # raised once

    shipment.refresh_from_db()
    [issue] = ShipmentIssue.objects.filter(shipment=shipment)
    assert (issue.kind, issue.detail) == ("late", "expected by 2026-11-20, 1 day(s) late")
    [event] = issue_events()
    assert event.name == "shipment.late"
    assert event.payload["issue"]["kind"] == "late"
    assert event.payload["estimate"] == {
        "date": shipment.estimated_delivery_date.isoformat(),
        "earliest": shipment.estimated_earliest.isoformat(),
        "latest": shipment.estimated_latest.isoformat(),
        "promised": "2026-11-20",
    }
    # The estimate the shopper hears about lies ahead, not in the past.
    assert shipment.estimated_latest >= dt.date(2026, 11, 21)

    # Delivered: no longer late, and a revised estimate never reopened it before.
    now.move_to(at(22, 9), tick=False)
    scan(shipment, at(22, 8), "delivered")
    issue.refresh_from_db()
    assert issue.resolved_at == at(22, 9)
    assert issues_scan() == 0
    assert len(issue_events()) == 1


def test_late_goes_by_the_estimates_upper_end_when_it_is_earlier_than_the_promise(store, now):
    shipment = ship(store, promised_delivery_date="2026-11-27")
    Shipment.objects.filter(pk=shipment.pk).update(
        estimated_delivery_date=dt.date(2026, 11, 19),
        estimated_earliest=dt.date(2026, 11, 18),
        estimated_latest=dt.date(2026, 11, 20),
    )

    now.move_to(at(21, 9), tick=False)

    assert issues_scan() == 1
    assert issues(shipment) == [("late", True)]


def test_never_late_after_delivered(store, now):
    on_time = ship(store, external_id="p1")
    scan(on_time, at(19, 8), "delivered")
    delivered_late = ship(store, make_order(store, "7002"), external_id="p2")

    now.move_to(at(23, 9), tick=False)
    scan(delivered_late, at(23, 8), "delivered")  # arrives after the promise, before any scan
    assert issues_scan() == 0
    now.move_to(at(30, 9), tick=False)
    assert issues_scan() == 0

    assert issues(on_time) == []
    assert issues(delivered_late) == []
    assert issue_events() == []


def test_nothing_is_raised_for_old_imported_parcels(store, now):
    shipment = ship(store, shipped_at="2026-06-01T10:00:00Z", promised_delivery_date="2026-06-05")

    assert issues_scan() == 0
    assert issues(shipment) == []


# -- stalled and lost -------------------------------------------------------------------------


def test_stalled_after_days_without_a_scan_per_carrier(store, now, settings):
    dhl = ship(store, external_id="p1", promised_delivery_date=None)
    correios = ship(
        store,
        make_order(store, "7002"),
        external_id="p2",
        carrier="Correios",
        promised_delivery_date=None,
    )
    for shipment in (dhl, correios):
        scan(shipment, at(17, 12), "in_transit")
    assert (dhl.carrier_code, correios.carrier_code) == ("dhl_paket", "correios")
    assert (stalled_days("dhl_paket"), stalled_days("correios")) == (4, 6)

    now.move_to(at(21, 11), tick=False)  # 3 days 23 hours
    assert issues_scan() == 0
    now.move_to(at(21, 12, 30), tick=False)
    assert issues_scan() == 1
    assert (issues(dhl), issues(correios)) == ([("stalled", True)], [])

    now.move_to(at(23, 12, 30), tick=False)
    assert issues_scan() == 1
    assert issues(correios) == [("stalled", True)]
    [detail] = ShipmentIssue.objects.filter(shipment=correios).values_list("detail", flat=True)
    assert detail == "no scan for 6 days (stalled after 6)"

    # A scan moves it again.
    scan(dhl, at(23, 13), "in_transit")
    assert issues(dhl) == [("stalled", False)]
    assert [e.name for e in issue_events()] == ["shipment.stalled", "shipment.stalled"]


def test_stalled_days_come_from_the_setting(store, now, settings):
    settings.AFTERSALE_STALLED_DAYS = {"correios": 10, "default": 2}
    assert (stalled_days("correios"), stalled_days("dhl_paket"), stalled_days("")) == (10, 2, 2)
    settings.AFTERSALE_STALLED_DAYS = '{"ups": 3}'
    assert (stalled_days("ups"), stalled_days("correios")) == (3, 6)

    settings.AFTERSALE_STALLED_DAYS = {"default": 2}
    shipment = ship(store, promised_delivery_date=None)
    scan(shipment, at(17, 12), "in_transit")
    now.move_to(at(19, 13), tick=False)
    assert issues_scan() == 1
    assert issues(shipment) == [("stalled", True)]


def test_lost_after_twice_the_stalled_days(store, now):
    shipment = ship(store, promised_delivery_date=None)
    scan(shipment, at(17, 12), "in_transit")

    now.move_to(at(25, 11), tick=False)  # 7 days 23 hours
    assert issues_scan() == 1  # stalled
    now.move_to(at(25, 13), tick=False)
    assert issues_scan() == 1  # lost
    assert issues(shipment) == [("lost", True), ("stalled", True)]

    scan(shipment, at(25, 12, 30), "in_transit", text="Found at the hub")
    assert issues(shipment) == [("lost", False), ("stalled", False)]


def test_waiting_at_a_pickup_point_is_not_stalled(store, now):
    shipment = ship(store, promised_delivery_date=None)
    scan(shipment, at(17, 12), "ready_for_pickup", location="Kiosk")

    now.move_to(at(27, 12), tick=False)

    assert issues_scan() == 0
    assert issues(shipment) == [("ready_for_pickup", True)]


def test_the_scan_walks_all_candidates_in_batches(store, now):
    shipments = [
        ship(store, make_order(store, f"80{i}"), external_id=f"b{i}", promised_delivery_date=None)
        for i in range(5)
    ]
    for shipment in shipments:
        scan(shipment, at(17, 12), "in_transit")
    now.move_to(at(22, 12), tick=False)

    assert issues_scan(batch_size=2) == 5
    assert issues_scan(batch_size=2) == 0
    assert ShipmentIssue.objects.filter(kind="stalled").count() == 5


def test_the_scan_is_a_periodic_job_every_15_minutes(store, now):
    [job] = [j for j in periodic_jobs() if j.name == "tracking.scan_shipment_issues"]
    assert job.every == dt.timedelta(minutes=15)
    assert job.task is scan_shipment_issues

    shipment = ship(store, promised_delivery_date=None)
    scan(shipment, at(17, 12), "in_transit")
    now.move_to(at(22, 12), tick=False)
    assert scan_shipment_issues.call() == 1


# -- the watchlist ----------------------------------------------------------------------------


@pytest.fixture
def staff(client, django_user_model, store):
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    store_member_add(store=store, username="ops")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="tracking"))
    client.force_login(user)
    return client


@pytest.fixture
def outsider(django_user_model, other_store):
    from django.test import Client

    django_user_model.objects.create_user(username="brisa", password="pw", is_staff=True)
    store_member_add(store=other_store, username="brisa")
    client = Client()
    client.force_login(django_user_model.objects.get(username="brisa"))
    return client


@pytest.fixture
def watched(store, now):
    shipment = ship(store, carrier="UPS", tracking_number="1Z999AA10123456784")
    scan(shipment, at(18, 8), "exception", reason="damaged", text="Box crushed")
    return shipment


def test_the_watchlist_shows_a_members_open_issues_with_links(staff, watched):
    response = staff.get(WATCHLIST_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Damaged: Box crushed" in body
    assert f"/admin/tracking/shipment/{watched.pk}/change/" in body
    assert f"/admin/orders/order/{watched.order_id}/change/" in body
    assert "admin/base_site.html" in [t.name for t in response.templates]
    [row] = response.context["rows"]
    assert row["issue"].kind == "exception"

    filtered = staff.get(WATCHLIST_URL, {"kind": "late", "carrier": "ups", "store": "acme"})
    assert filtered.status_code == 200
    assert filtered.context["rows"] == []
    by_carrier = staff.get(WATCHLIST_URL, {"carrier": "UPS", "age": "1"})
    assert by_carrier.context["rows"] == []  # detected less than a day ago


def test_another_stores_staff_sees_nothing_and_cannot_name_the_store(outsider, watched):
    response = outsider.get(WATCHLIST_URL)
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "Box crushed" not in response.content.decode()

    assert outsider.get(WATCHLIST_URL, {"store": "acme"}).status_code == 404
    assert outsider.get(WATCHLIST_URL + "lanes/", {"store": "acme"}).status_code == 404


def test_the_watchlist_needs_staff(client, watched):
    response = client.get(WATCHLIST_URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_bulk_resolve_changes_only_the_users_own_issues(staff, outsider, watched):
    issue = ShipmentIssue.objects.get(shipment=watched)

    response = outsider.post(WATCHLIST_URL, {"action": "resolve", "ids": [issue.pk]})
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.resolved_at is None

    response = staff.post(WATCHLIST_URL, {"action": "resolve", "ids": [issue.pk]})
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.resolved_at == at(17, 11)


def test_carrier_performance_by_lane(staff, store, now, django_assert_max_num_queries):
    def delivered(ref, carrier, shipped, arrived, promised, region="SP"):
        shipment = ship(
            store,
            make_order(store, ref),
            external_id=f"l{ref}",
            carrier=carrier,
            shipped_at=shipped,
            promised_delivery_date=promised,
            origin_region="BE",
        )
        Shipment.objects.filter(pk=shipment.pk).update(
            status="delivered", delivered_at=arrived, destination_region=region
        )

    now.move_to(at(28, 12), tick=False)
    delivered("1", "DHL", at(17), at(19), "2026-11-19")  # 2 days, on time
    delivered("2", "DHL", at(17), at(21), "2026-11-19")  # 4 days, late
    delivered("3", "DHL", at(17), at(20, 23, 30), "2026-11-21")  # 00:30 on the 21st in Berlin
    delivered("4", "UPS", at(17), at(18), None)  # 1 day, no promise
    delivered("5", "DHL", at(17), at(18), "2026-11-19", region="RJ")

    with django_assert_max_num_queries(8):
        response = staff.get(WATCHLIST_URL + "lanes/")

    assert response.status_code == 200
    rows = [
        (
            r["lane"].carrier,
            r["lane"].origin,
            r["lane"].destination,
            r["lane"].delivered,
            r["on_time"],
            r["p50"],
            r["p90"],
        )
        for r in response.context["rows"]
    ]
    assert rows == [
        ("dhl_paket", "BE", "SP", 3, "67%", "3.6", "4.0"),
        ("dhl_paket", "BE", "RJ", 1, "100%", "1.0", "1.0"),
        ("ups", "BE", "SP", 1, "–", "1.0", "1.0"),
    ]


def test_a_parcel_waiting_at_a_pickup_point_is_not_late(store, now):
    shipment = ship(store)
    scan(shipment, at(20, 8), "ready_for_pickup", location="Kiosk")

    now.move_to(at(23, 9), tick=False)

    assert issues_scan() == 0
    assert issues(shipment) == [("ready_for_pickup", True)]
