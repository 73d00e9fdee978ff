"""The tracking page from the cache: one query while the order's tracking data is unchanged, and
never stale — a scan, an issue raised or resolved, a revised estimate, a delivered parcel, a new
language, a branding change all show on the very next view. Pages never cross orders."""

from __future__ import annotations

import re
from datetime import date
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import Client

from aftersale.tracking import pages, tokens
from aftersale.tracking.estimates import estimate_set_manual
from aftersale.tracking.issues import issues_resolve
from aftersale.tracking.models import Shipment, ShipmentIssue
from aftersale.tracking.schemas import TrackingEventIn
from aftersale.tracking.services import tracking_events_add
from tests.tracking.test_tracking_page import at, event, make_order, path_of, two_shipments

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def page_path(order) -> str:
    return path_of(tokens.tracking_url(order.public_id))


def view(path: str) -> str:
    response = Client().get(path)
    assert response.status_code == 200
    return response.content.decode()


def without_csrf(body: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "CSRF", body)


def test_second_view_is_served_from_the_cache_in_one_query(
    store, django_assert_num_queries, django_assert_max_num_queries
):
    order = make_order(store, locale="en", time_zone="Europe/Lisbon")
    two_shipments(order)
    path = page_path(order)

    with django_assert_max_num_queries(6):
        first = Client().get(path)
    with django_assert_num_queries(1):
        second = Client().get(path)

    assert second.status_code == 200
    assert second["Cache-Control"] == "no-store"
    assert second["Content-Language"] == "en"
    assert without_csrf(second.content.decode()) == without_csrf(first.content.decode())
    # Each view has a CSRF token of its own, never one from the cache.
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value
    assert "CSRF" in without_csrf(second.content.decode())


def test_a_new_scan_shows_at_once(store, django_assert_max_num_queries):
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    path = page_path(order)
    assert "Parcel arrived at the delivery depot" not in view(path)

    tracking_events_add(
        store=store,
        shipment=delayed,
        events=[
            TrackingEventIn(
                occurred_at=at(25, 8),
                status="in_transit",
                raw_status="DEPOT",
                raw_text="Parcel arrived at the delivery depot",
                location="Berlin",
            )
        ],
    )

    assert "Parcel arrived at the delivery depot" in view(path)


def test_a_late_scan_of_an_earlier_day_shows_at_once(store):
    # Older than the latest scan: neither the status nor `last_event_at` moves.
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    path = page_path(order)
    before = Shipment.objects.values_list("updated_at", "last_event_at").get(pk=delayed.pk)
    assert "Sorted in Hamburg" not in view(path)

    event(delayed, at(20, 18), "in_transit", "Sorted in Hamburg", location="Hamburg")

    assert Shipment.objects.values_list("updated_at", "last_event_at").get(pk=delayed.pk) == before
    assert "Sorted in Hamburg" in view(path)


def test_issues_raised_and_resolved_show_at_once(store):
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    path = page_path(order)
    assert "Your parcel is taking longer than expected." in view(path)

    issues_resolve(issues=ShipmentIssue.objects.filter(shipment=delayed, kind="late"))
    assert "Your parcel is taking longer than expected." not in view(path)

    ShipmentIssue.objects.create(store=store, shipment=delayed, kind="lost", detected_at=at(25, 9))
    assert "The carrier reports that your parcel is lost." in view(path)


def test_a_revised_estimate_shows_at_once(store):
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    path = page_path(order)
    assert "Friday, November 27 – Saturday, November 28" in view(path)
    updated = Shipment.objects.values_list("updated_at", flat=True).get(pk=delayed.pk)

    estimate_set_manual(
        store=store,
        shipment=delayed,
        estimated_date=date(2026, 12, 1),
        earliest=date(2026, 11, 30),
        latest=date(2026, 12, 1),
        reason="carrier said so",
    )

    body = view(path)
    assert "Monday, November 30 – Tuesday, December 1" in body
    assert "Friday, November 27 – Saturday, November 28" not in body
    # The shipment's own change time moves with its estimate (API clients sync on it too).
    assert Shipment.objects.values_list("updated_at", flat=True).get(pk=delayed.pk) > updated


def test_a_delivered_parcel_shows_at_once(store):
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    path = page_path(order)
    assert view(path).count("Delivered on") == 1

    tracking_events_add(
        store=store,
        shipment=delayed,
        events=[
            TrackingEventIn(
                occurred_at=at(26, 11), status="delivered", raw_status="DLV", raw_text="Delivered"
            )
        ],
    )

    body = view(path)
    assert body.count("Delivered on") == 2
    assert "Please contact the store so they can correct the address" not in body


def test_languages_are_cached_apart(store, django_assert_num_queries):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    two_shipments(order)
    path = page_path(order)
    customer = order.customer
    assert "Bestellung #1001" in view(path)

    customer.locale = "pt-BR"
    customer.save()
    assert "Pedido #1001" in view(path)

    customer.locale = "de"
    customer.save()
    with django_assert_num_queries(1):  # the German page is still in the cache
        body = view(path)
    assert "Bestellung #1001" in body and "Pedido" not in body


def test_a_page_never_goes_to_another_order(store, other_store):
    first = make_order(store, locale="en", time_zone="", number="1001")
    second = make_order(store, locale="en", time_zone="", number="1002")
    third = make_order(other_store, locale="en", time_zone="", number="1001")
    two_shipments(first)

    for order in [first, second, third, first, second, third]:
        body = view(page_path(order))
        assert f"Order {order.number}" in body
        assert ("GLS" in body) == (order == first)
        assert (store.name in body) == (order.store_id == store.pk)

    utc = pages.page_zone("UTC")
    keys = {
        pages.page_cache_key(pages.order_for_tracking(o.public_id), language="en", zone=utc)
        for o in [first, second, third]
    }
    assert len(keys) == 3


def test_a_branding_change_shows_at_once(store):
    order = make_order(store, locale="en", time_zone="")
    path = page_path(order)
    assert "help@acme.example" in view(path)

    store.support_email = "care@acme.example"
    store.save()

    body = view(path)
    assert "care@acme.example" in body and "help@acme.example" not in body


def test_the_page_works_when_the_cache_does_not(store):
    order = make_order(store, locale="en", time_zone="")
    two_shipments(order)

    with (
        mock.patch.object(cache, "get", side_effect=ConnectionError("down")),
        mock.patch.object(cache, "set", side_effect=ConnectionError("down")),
    ):
        body = view(page_path(order))

    assert "Order #1001" in body and "Zugestellt an Nachbar" in body


def test_a_form_with_an_error_keeps_what_was_sent_and_the_page_stays_cached(store):
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    path = page_path(order)
    view(path)

    response = Client().post(path, {"message": "Still <nothing>", "shipment": delayed.public_id})

    body = response.content.decode()
    assert response.status_code == 400
    assert "Please choose what went wrong." in body
    assert "Still &lt;nothing&gt;</textarea>" in body
    assert f'<option value="{delayed.public_id}" selected>' in body
    assert f'<form method="post" action="{path}">' in body
    # The next plain view has a blank form again.
    assert "Please choose what went wrong." not in view(path)
    assert "Still" not in view(path)


def test_pages_are_shared_through_redis_when_configured(store, settings):
    """CACHE_URL=redis://… makes every process and machine serve the same cached page."""
    import redis

    from aftersale.settings import _cache_config

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    with mock.patch.dict("os.environ", {"CACHE_URL": url}):
        settings.CACHES = {"default": _cache_config()}
    from django.core.cache import caches

    caches["default"].clear()
    order = make_order(store, locale="en", time_zone="Europe/Lisbon")
    two_shipments(order)

    first = view(page_path(order))
    keys = redis.Redis.from_url(url).keys("*")
    second = view(page_path(order))

    assert keys, "the rendered page was not stored in Redis"
    assert without_csrf(first) == without_csrf(second)
    caches["default"].clear()
