"""The shopper's tracking page (/t/<token>) and the public lookup (/track).

In a real headless Chromium (phone and desktop, German and Brazilian Portuguese): what the page
shows, its accessibility, its weight and the report-a-problem form. With Django's test client:
forged links, the lookup (matching, identical failures, rate limits, tracking number alone), the
old /o/ links, query counts and the colour contrast rules.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from aftersale.catalog.models import Product
from aftersale.customers.models import Address, Customer
from aftersale.messaging import tokens as messaging_tokens
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking import pages, tokens
from aftersale.tracking.models import (
    DeliveryEstimate,
    ProblemReport,
    Shipment,
    ShipmentIssue,
    TrackingEvent,
    TrackLookupAttempt,
)
from tests.browser import PHONE, assert_accessible, chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "tracking"
DESKTOP = {"width": 1280, "height": 900}
browser_test = pytest.mark.django_db(transaction=True)
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40"><rect width="40" height="40"'
    b' rx="8" fill="#0b6e4f"/><text x="48" y="27" font-family="sans-serif" font-size="18"'
    b' font-weight="700" fill="#111827">Acme</text></svg>'
)
PRODUCT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="112" height="112"><rect width="112"'
    b' height="112" fill="#c7d2fe"/><circle cx="56" cy="56" r="30" fill="#4338ca"/></svg>'
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# --- data ----------------------------------------------------------------------------------------


def make_order(store, *, locale: str, time_zone: str, number: str = "1001"):
    store.brand_color = "#0b6e4f"
    store.logo_url = "https://cdn.acme.example/logo.png"
    store.support_email = "help@acme.example"
    store.support_phone = "+49 30 1234567"
    store.website_url = "https://acme.example"
    store.save()
    customer = Customer.objects.create(
        store=store,
        email="ana@example.com",
        first_name="Ana",
        last_name="Souza",
        locale=locale,
        time_zone=time_zone,
    )
    data = {
        "external_id": number,
        "number": f"#{number}",
        "placed_at": "2026-11-18T10:00:00Z",
        "email": customer.email,
        "customer": {"email": customer.email},
        "shipping_address": {
            "name": "Ana Souza",
            "line1": "Torstraße 12",
            "city": "Berlin",
            "postal_code": "10119",
            "country": "DE",
        },
        "lines": [
            {"title": "Trail Mug", "unit_price": "19.90", "quantity": 2, "sku": "MUG-1"},
            {"title": "Wool Socks", "variant_title": "M", "unit_price": "12.50", "quantity": 1},
        ],
    }
    order = order_upsert(store=store, data=OrderIn(**data)).order
    for line in order.lines.all():
        product = Product.objects.create(
            store=store,
            title=line.title,
            image_url=f"https://cdn.acme.example/{line.sku or 'socks'}.png",
        )
        line.product = product
        line.save(update_fields=["product"])
    return order


def event(shipment, when, status, raw, *, location="", reason=""):
    return TrackingEvent.objects.create(
        store=shipment.store,
        shipment=shipment,
        occurred_at=when,
        status=status,
        raw_status=status.upper(),
        raw_text=raw,
        location=location,
        reason=reason,
        fingerprint=f"{shipment.pk}-{when.isoformat()}-{status}",
    )


def two_shipments(order):
    """One parcel delivered; one delayed (estimate moved, open "late" issue) and then stuck on an
    address problem."""
    store = order.store
    delivered = Shipment.objects.create(
        store=store,
        order=order,
        carrier="DHL",
        tracking_number="00340434161234567890",
        tracking_url="https://www.dhl.de/de/privatkunden.html?piececode=00340434161234567890",
        status="delivered",
        shipped_at=at(19, 8),
        delivered_at=at(21, 13, 5),
    )
    event(delivered, at(19, 8), "picked_up", "Die Sendung wurde abgeholt", location="Leipzig")
    event(delivered, at(20, 6), "in_transit", "Sendung im Zielpaketzentrum", location="Berlin")
    event(delivered, at(21, 7), "out_for_delivery", "Sendung wird zugestellt", location="Berlin")
    event(delivered, at(21, 13, 5), "delivered", "Zugestellt an Nachbar", location="Berlin")

    delayed = Shipment.objects.create(
        store=store,
        order=order,
        carrier="GLS",
        tracking_number="ZX81234567",
        tracking_url="https://gls-group.com/track/ZX81234567",
        status="exception",
        shipped_at=at(20, 9),
        estimated_earliest=date(2026, 11, 27),
        estimated_latest=date(2026, 11, 28),
        estimated_delivery_date=date(2026, 11, 27),
    )
    for created, earliest, latest in [
        (at(20, 9), date(2026, 11, 23), date(2026, 11, 24)),
        (at(23, 9), date(2026, 11, 27), date(2026, 11, 28)),
    ]:
        DeliveryEstimate.objects.create(
            store=store,
            shipment=delayed,
            created_at=created,
            estimated_date=earliest,
            earliest=earliest,
            latest=latest,
            source="carrier",
        )
    event(delayed, at(20, 9), "picked_up", "Parcel data entered", location="Hamburg")
    event(delayed, at(21, 4), "in_transit", "The parcel has reached the depot", location="Hamburg")
    event(
        delayed,
        at(24, 10, 30),
        "exception",
        "Consignee address incomplete",
        location="Berlin",
        reason="address_problem",
    )
    ShipmentIssue.objects.create(store=store, shipment=delayed, kind="late", detected_at=at(24, 23))
    ShipmentIssue.objects.create(
        store=store, shipment=delayed, kind="exception", detected_at=at(24, 10, 31)
    )
    return delivered, delayed


# --- browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture
def site(live_server, settings) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


def open_page(browser, url: str, viewport: dict):
    """A tab at `viewport` that serves the merchant's CDN images locally and counts every byte."""
    context = browser.new_context(viewport=viewport, locale="en-US")
    page = context.new_page()
    page.route(
        "https://cdn.acme.example/**",
        lambda route: route.fulfill(
            status=200,
            content_type="image/svg+xml",
            body=LOGO if "logo" in route.request.url else PRODUCT,
        ),
    )
    sizes: list[int] = []
    page.on(
        "requestfinished",
        lambda request: sizes.append(
            request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]
        ),
    )
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    return context, page, response, sizes


CASES = {
    # language: (customer zone, h1, step label, delivered heading, problem heading,
    #            a known event's local time, explanation, estimate label, "originally")
    "de": (
        "Europe/Berlin",
        "Bestellung #1001",
        "Unterwegs",
        "Zugestellt",
        "Problem bei der Zustellung",
        "21. November 2026 14:05",
        "Der Versanddienstleister konnte Ihr Paket wegen eines Problems mit der Adresse nicht "
        "zustellen.",
        "Voraussichtliche Zustellung",
        "Ursprünglich",
    ),
    "pt-br": (
        "America/Manaus",
        "Pedido #1001",
        "Em trânsito",
        "Entregue",
        "Problema na entrega",
        "21 de novembro de 2026 às 09:05",
        "A transportadora não conseguiu entregar seu pacote por causa de um problema com o "
        "endereço.",
        "Previsão de entrega",
        "Previsão original",
    ),
}


@browser_test
@pytest.mark.parametrize("language", ["de", "pt-br"])
def test_tracking_page_in_the_shoppers_language_zone_and_at_both_sizes(
    browser, site, store, language
):
    zone, h1, step, delivered_h, problem_h, local_time, explanation, estimate, originally = CASES[
        language
    ]
    order = make_order(store, locale=language, time_zone=zone)
    _, delayed = two_shipments(order)
    url = tokens.tracking_url(order.public_id)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    for name, viewport in [("phone", PHONE), ("desktop", DESKTOP)]:
        context, page, response, sizes = open_page(browser, url, viewport)
        try:
            page.screenshot(path=str(ARTIFACTS / f"order-{language}-{name}.png"), full_page=True)

            assert response.status == 200
            assert response.headers["content-language"] == language
            assert page.locator("html").get_attribute("lang") == language
            assert page.locator("h1").inner_text() == h1
            assert_accessible(page, width=viewport["width"])
            assert sum(sizes) < 100_000, f"{sum(sizes)} bytes transferred"

            parcels = page.locator("section.shipment")
            assert parcels.count() == 2
            first, second = parcels.nth(0), parcels.nth(1)
            # Newest event first, our status as the heading, the carrier's words below.
            assert first.locator(".timeline h4").first.inner_text() == delivered_h
            assert first.locator(".timeline .raw").first.inner_text() == "Zugestellt an Nachbar"
            assert first.locator(".timeline time").first.inner_text() == local_time
            assert first.locator("[role=progressbar]").get_attribute("aria-valuenow") == "5"
            assert second.locator(".timeline h4").first.inner_text().startswith(problem_h)
            assert second.locator(".timeline .raw").first.inner_text() == (
                "Consignee address incomplete"
            )
            bar = second.locator("[role=progressbar]")
            assert bar.get_attribute("aria-valuenow") == "3"
            assert step in bar.get_attribute("aria-valuetext")
            assert explanation in second.locator(".explain").first.inner_text()
            assert estimate in second.locator(".when").inner_text()
            assert second.locator(".when s").count() == 1
            assert originally in second.locator(".when").inner_text()
            carrier = second.get_by_role("link", name=re.compile("GLS"))
            assert carrier.get_attribute("href") == delayed.tracking_url
            assert page.locator(".lines img").count() == 2
            assert page.locator("#recommendations").count() == 1
            assert page.locator("#recommendations").get_attribute("aria-label")
            assert page.locator('a[href="mailto:help@acme.example"]').count() >= 1
            # Still moving: the page refreshes itself.
            assert "location.reload" in page.content()
        finally:
            context.close()


@browser_test
def test_reporting_a_problem_in_the_browser_creates_one_report_and_thanks(browser, site, store):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    _, delayed = two_shipments(order)
    url = tokens.tracking_url(order.public_id)
    context, page, _, _ = open_page(browser, url, PHONE)
    try:
        page.get_by_label("Mein Paket ist nicht angekommen").check()
        page.get_by_label("Welches Paket?").select_option(delayed.public_id)
        page.get_by_label("Weitere Hinweise für den Shop (optional)").fill("Seit Tagen nichts.")
        page.get_by_role("button", name="An den Shop senden").click()

        assert page.get_by_role("status").inner_text() == (
            "Vielen Dank. Der Shop hat Ihre Meldung erhalten und meldet sich per E-Mail bei Ihnen."
        )
        page.screenshot(path=str(ARTIFACTS / "reported-de-phone.png"), full_page=True)
        # The same report again (a reload, a double click) is not a second report.
        page.get_by_label("Mein Paket ist nicht angekommen").check()
        page.get_by_role("button", name="An den Shop senden").click()
        assert page.get_by_role("status").is_visible()
    finally:
        context.close()

    report = ProblemReport.objects.get()
    assert (report.store_id, report.order_id, report.shipment_id, report.kind, report.message) == (
        store.pk,
        order.pk,
        delayed.pk,
        "not_arrived",
        "Seit Tagen nichts.",
    )


@browser_test
def test_lookup_pages_are_accessible(browser, site, store):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=PHONE, locale="de-DE")
    page = context.new_page()
    try:
        page.goto(site + reverse("tracking:lookup"))
        assert page.locator("html").get_attribute("lang") == "de"
        assert_accessible(page)
        page.get_by_role("textbox", name="Bestellnummer").fill("999")
        page.get_by_label("E-Mail-Adresse oder Postleitzahl").fill("x@example.com")
        page.get_by_role("button", name="Meine Bestellung finden").click()
        assert (
            page.get_by_role("alert")
            .inner_text()
            .startswith("Wir konnten keine Bestellung mit diesen Angaben finden.")
        )
        assert_accessible(page)
        page.screenshot(path=str(ARTIFACTS / "lookup-de-phone.png"), full_page=True)
    finally:
        context.close()


# --- test client: links, lookup, limits ----------------------------------------------------------


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.mark.django_db
def test_forged_token_gets_the_friendly_404(store):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    forged = signing.dumps(
        {"o": order.public_id},
        salt="aftersale.tracking.page",
        key="not-this-installations-secret",
        compress=True,
    )
    # A token for another purpose does not open it either.
    other_purpose = messaging_tokens.order_token(order.public_id)

    for token in [forged, other_purpose, "nonsense"]:
        response = Client().get(reverse("tracking:page", args=[token]))
        assert response.status_code == 404
        body = response.content.decode()
        assert "This tracking link does not work" in body
        assert "#1001" not in body and "Acme" not in body


@pytest.mark.django_db
def test_page_content_and_query_count(store, django_assert_max_num_queries):
    order = make_order(store, locale="en", time_zone="Europe/Lisbon")
    two_shipments(order)
    client = Client()
    path = path_of(tokens.tracking_url(order.public_id))

    with django_assert_max_num_queries(6):
        response = client.get(path)

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "Order #1001" in body
    assert "Nov. 21, 2026, 1:05 p.m." in body  # Lisbon is UTC in November
    assert "Originally" in body and "<s>Monday, November 23 – Tuesday, November 24</s>" in body
    assert "Friday, November 27 – Saturday, November 28" in body
    assert "Please contact the store so they can correct the address" in body
    assert "Your parcel is taking longer than expected." in body
    assert "Delivered on" in body


@pytest.mark.django_db
def test_a_delivered_order_links_the_returns_portal_and_one_under_way_does_not(store):
    from aftersale.returns.portal import start_path

    moving = make_order(store, locale="de", time_zone="Europe/Berlin", number="1001")
    order = make_order(store, locale="de", time_zone="Europe/Berlin", number="1002")
    client = Client()
    Shipment.objects.create(store=store, order=moving, carrier="DHL", status="in_transit")
    Shipment.objects.create(
        store=store, order=order, carrier="DHL", status="delivered", delivered_at=at(21, 13)
    )

    under_way = client.get(path_of(tokens.tracking_url(moving.public_id))).content.decode()
    delivered = client.get(path_of(tokens.tracking_url(order.public_id))).content.decode()

    assert "Artikel zurücksenden oder umtauschen" not in under_way
    assert f'<a href="{start_path(order.public_id)}">Artikel zurücksenden oder umtauschen</a>' in (
        delivered
    )
    assert client.get(start_path(order.public_id)).status_code in (200, 302, 303)


@pytest.mark.django_db
def test_a_returns_parcel_back_to_the_store_is_not_one_of_the_orders_parcels(store):
    from aftersale.tracking.models import RETURN_PARCEL_SOURCE

    order = make_order(store, locale="en", time_zone="Europe/Lisbon")
    delivered, _ = two_shipments(order)
    back = Shipment.objects.create(
        store=store,
        order=order,
        source=RETURN_PARCEL_SOURCE,
        carrier="DHL",
        tracking_number="RETURN-00000001",
        status="in_transit",
    )
    event(back, at(25, 9), "in_transit", "Retoure unterwegs", location="Leipzig")

    body = Client().get(path_of(tokens.tracking_url(order.public_id))).content.decode()

    assert delivered.tracking_number in body
    assert "RETURN-00000001" not in body and "Retoure unterwegs" not in body


@pytest.mark.django_db
def test_page_of_a_finished_order_does_not_refresh(store):
    order = make_order(store, locale="en", time_zone="")
    _, delayed = two_shipments(order)
    Shipment.objects.filter(pk=delayed.pk).update(status="returned_to_sender")

    body = Client().get(path_of(tokens.tracking_url(order.public_id))).content.decode()

    assert "location.reload" not in body
    assert "Estimated delivery" not in body


@pytest.mark.django_db
def test_lookup_by_number_and_email_or_postcode_redirects(store):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    expected = path_of(tokens.tracking_url(order.public_id))

    for number, contact in [("1001", "ANA@example.com "), ("#1001", "10119"), (" 1001", "101 19")]:
        response = Client().post(reverse("tracking:lookup"), {"number": number, "contact": contact})
        assert response.status_code == 302, (number, contact)
        assert response["Location"] == expected
    assert TrackLookupAttempt.objects.filter(succeeded=True).count() == 3


@pytest.mark.django_db
def test_wrong_email_and_wrong_number_answer_identically(store):
    make_order(store, locale="de", time_zone="Europe/Berlin")
    url = reverse("tracking:lookup")

    wrong_email = Client().post(url, {"number": "1001", "contact": "eve@example.com"})
    wrong_number = Client().post(url, {"number": "1002", "contact": "ana@example.com"})

    assert wrong_email.status_code == wrong_number.status_code == 200
    assert wrong_email.content == wrong_number.content
    assert "We could not find an order with these details" in wrong_email.content.decode()
    assert sorted(wrong_email.headers.items()) == sorted(wrong_number.headers.items())


@pytest.mark.django_db
def test_eleventh_attempt_from_one_address_gets_429(store):
    make_order(store, locale="de", time_zone="Europe/Berlin")
    client = Client(REMOTE_ADDR="203.0.113.9")
    url = reverse("tracking:lookup")

    statuses = [
        client.post(url, {"number": f"{2000 + i}", "contact": "x@example.com"}).status_code
        for i in range(10)
    ]
    blocked = client.post(url, {"number": "1001", "contact": "ana@example.com"})
    other_address = Client(REMOTE_ADDR="198.51.100.7").post(
        url, {"number": "1001", "contact": "ana@example.com"}
    )

    assert statuses == [200] * 10
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "600"
    assert other_address.status_code == 302
    # The address is never stored, only a keyed hash of it.
    assert not TrackLookupAttempt.objects.filter(client="203.0.113.9").exists()
    assert TrackLookupAttempt.objects.count() == 11


@pytest.mark.django_db
def test_sixth_attempt_on_one_order_number_gets_429_from_any_address(store):
    make_order(store, locale="de", time_zone="Europe/Berlin")
    url = reverse("tracking:lookup")
    for i in range(5):
        client = Client(REMOTE_ADDR=f"192.0.2.{i + 1}")
        assert client.post(url, {"number": "1001", "contact": f"{i}@x.example"}).status_code == 200

    blocked = Client(REMOTE_ADDR="192.0.2.99").post(
        url, {"number": "#1001", "contact": "ana@example.com"}
    )

    assert blocked.status_code == 429


@pytest.mark.django_db
def test_tracking_number_alone_shows_the_parcel_and_nothing_about_the_order(store):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    two_shipments(order)

    response = Client().post(reverse("tracking:lookup"), {"tracking_number": " zx81234567 "})

    body = response.content.decode()
    assert response.status_code == 200
    assert "Consignee address incomplete" in body
    assert "GLS" in body and "ZX81234567" in body
    for private in [
        "Ana",
        "Souza",
        "ana@example.com",
        "Torstraße",
        "10119",
        "1001",
        "Trail Mug",
        "Wool Socks",
        order.public_id,
        "Acme",
        'name="kind"',
    ]:
        assert private not in body, private


@pytest.mark.django_db
def test_unknown_tracking_number_says_so(store):
    response = Client().post(reverse("tracking:lookup"), {"tracking_number": "NOPE"})
    assert response.status_code == 200
    assert "We could not find a parcel with this tracking number." in response.content.decode()


@pytest.mark.django_db
def test_duplicate_report_within_the_hour_is_not_a_second_report(store):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    client = Client(enforce_csrf_checks=True)
    path = path_of(tokens.tracking_url(order.public_id))
    client.get(path)
    csrf = client.cookies["csrftoken"].value

    first = client.post(path, {"kind": "damaged", "message": "Dented", "csrfmiddlewaretoken": csrf})
    again = client.post(path, {"kind": "damaged", "message": "Dented", "csrfmiddlewaretoken": csrf})
    other = client.post(path, {"kind": "other", "csrfmiddlewaretoken": csrf})
    no_kind = client.post(path, {"message": "?", "csrfmiddlewaretoken": csrf})
    forged = Client(enforce_csrf_checks=True).post(path, {"kind": "wrong_item"})

    assert first.status_code == again.status_code == other.status_code == 302
    assert first["Location"] == f"{path}?reported=1#report"
    assert no_kind.status_code == 400
    assert forged.status_code == 403
    assert sorted(ProblemReport.objects.values_list("kind", flat=True)) == ["damaged", "other"]


@pytest.mark.django_db
def test_old_order_link_redirects_permanently_to_the_tracking_page(store):
    order = make_order(store, locale="de", time_zone="Europe/Berlin")

    response = Client().get(path_of(messaging_tokens.order_url(order.public_id)))

    assert response.status_code == 301
    assert response["Location"] == path_of(tokens.tracking_url(order.public_id))


@pytest.mark.django_db
def test_messages_link_the_order_to_the_tracking_page(store):
    from aftersale.messaging.sending import message_context
    from aftersale.messaging.services import message_enqueue

    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    message, _ = message_enqueue(store=store, kind="shipping_confirmation", order=order)

    context = message_context(message, marketing=False)

    assert context["links"]["order_url"] == tokens.tracking_url(order.public_id)
    assert context["links"]["review_url"] == messaging_tokens.order_url(order.public_id)


@pytest.mark.django_db
def test_problem_reports_are_listed_in_the_back_office_for_their_store_only(
    store, other_store, django_user_model
):
    from django.contrib.auth.models import Permission

    from aftersale.core.models import StoreMember

    order = make_order(store, locale="de", time_zone="Europe/Berlin")
    pages.problem_report_submit(order=order, kind="damaged", message="Box crushed")
    staff = django_user_model.objects.create_user("olga", password="x", is_staff=True)
    outsider = django_user_model.objects.create_user("otto", password="x", is_staff=True)
    for user, target in [(staff, store), (outsider, other_store)]:
        StoreMember.objects.create(store=target, user=user, role="staff")
        for perm in ["view_problemreport", "change_problemreport"]:
            user.user_permissions.add(Permission.objects.get(codename=perm))
    url = reverse("admin:tracking_problemreport_changelist")

    mine, theirs = Client(), Client()
    mine.force_login(staff)
    theirs.force_login(outsider)

    assert "Box crushed" in mine.get(url).content.decode()
    assert "Box crushed" not in theirs.get(url).content.decode()


# --- colours -------------------------------------------------------------------------------------


@pytest.mark.parametrize("brand", ["#1f4e79", "#ffd400", "#f5f5f5", "#777777", "#0b6e4f", "bad"])
def test_palette_keeps_aa_contrast_for_any_brand_colour(brand):
    colours = pages.palette(brand, "#ffee00")

    assert pages.contrast(colours.on_brand, colours.brand) >= 4.5
    assert pages.contrast(colours.link, "#ffffff") >= 4.5
    assert pages.contrast(colours.brand, "#ffffff") >= 3
    assert pages.contrast(colours.accent, "#ffffff") >= 3


def test_a_light_brand_colour_falls_back_to_dark_text():
    colours = pages.palette("#ffd400")
    assert colours.link == pages.INK
    assert pages.contrast("#ffffff", "#000000") == pytest.approx(21)


def test_tokens_round_trip_and_refuse_tampering():
    token = tokens.tracking_token("ord_abc")
    assert tokens.read_tracking_token(token) == "ord_abc"
    assert tokens.read_tracking_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None


def test_step_of_every_status_is_known():
    for status in Shipment._meta.get_field("status").choices:
        assert status[0] in pages.STEP_OF or status[0] in pages.PROBLEM | pages.FINAL


def test_lookup_attempts_expire(db):
    client = pages.client_key("203.0.113.1")
    old = datetime.now(UTC) - timedelta(minutes=11)
    TrackLookupAttempt.objects.bulk_create(
        TrackLookupAttempt(kind="order", client=client, subject="1", created_at=old)
        for _ in range(20)
    )
    assert pages.lookup_allowed(client=client, subject="1")


def test_address_lines_never_reach_the_page_bundle(store):
    order = make_order(store, locale="en", time_zone="")
    page = pages.tracking_page(order, language="en", zone=pages.page_zone("UTC"))
    assert "Torstraße" not in repr(page.shipments) + repr(page.lines)
    assert Address.objects.filter(line1="Torstraße 12").exists()
