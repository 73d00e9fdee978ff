"""The returns portal in a real headless Chromium on a phone: the whole return in German, every
page passing the accessibility checks, a denied item with the rule's message, a refused upload,
and the lookup's errors announced and focused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.functional import empty

from aftersale.returns.models import ReturnLabel, ReturnRequest, private_storage
from tests.browser import PHONE, assert_accessible, chromium
from tests.returns.test_portal_data import lines_of, make_order, make_shop

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "returns"
browser_test = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture
def site(live_server, settings, tmp_path) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    from django.core.cache import cache

    settings.MEDIA_ROOT = tmp_path / "media"
    private_storage._wrapped = empty
    cache.clear()
    yield live_server.url
    private_storage._wrapped = empty


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="de-DE")
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def look_up(page, site, order) -> None:
    page.goto(site + reverse("returns:lookup"))
    assert_accessible(page)
    page.get_by_role("textbox", name="Bestellnummer").first.fill(order.number)
    page.get_by_label("E-Mail-Adresse oder Postleitzahl").fill("ana@example.com")
    page.get_by_role("button", name="Meine Bestellung finden").click()


@browser_test
def test_a_whole_return_on_a_phone_in_german(phone, site, store):
    make_shop(store)
    order = make_order(store)
    mug = lines_of(order)["MUG-1"]
    page = phone

    look_up(page, site, order)
    assert page.locator("h1").inner_text() == "Welche Artikel senden Sie zurück?"
    assert page.locator("html").get_attribute("lang") == "de"
    assert_accessible(page)
    shot(page, "1-items-de-phone")
    page.locator(f"#qty-{mug}").select_option("1")
    page.get_by_role("button", name="Weiter").click()

    assert page.locator("h1").inner_text() == "Warum schicken Sie es zurück?"
    assert_accessible(page)
    page.get_by_label("Grund").select_option("changed_mind")
    page.get_by_label("Möchten Sie uns noch etwas sagen? (optional)").fill("Passt nicht ins Regal.")
    shot(page, "2-reason-de-phone")
    page.get_by_role("button", name="Weiter").click()

    assert page.locator("h1").inner_text() == "Was möchten Sie stattdessen?"
    assert_accessible(page)
    credit = page.get_by_role("radio", name="Guthaben im Shop")
    assert "21,89\xa0€" in page.locator("label[for=o-store_credit]").inner_text()
    assert "19,90\xa0€" in page.locator("label[for=o-refund]").inner_text()
    credit.check()
    shot(page, "3-outcome-de-phone")
    page.get_by_role("button", name="Weiter").click()

    assert page.locator("h1").inner_text() == "Wie schicken Sie es zurück?"
    assert_accessible(page)
    page.get_by_role("radio", name="Abgabe mit QR-Code").check()
    page.get_by_role("button", name="Weiter").click()

    assert page.locator("h1").inner_text() == "Rücksendung prüfen und bestätigen"
    assert_accessible(page)
    assert page.locator("#total").inner_text() == "21,89\xa0€"
    assert "„Passt nicht ins Regal.“" in page.content() or "Passt nicht ins Regal." in (
        page.locator("main").inner_text()
    )
    shot(page, "4-confirm-de-phone")
    page.get_by_role("button", name="Rücksendung bestätigen").click()

    ret = ReturnRequest.objects.get()
    assert page.locator("h1").inner_text() == f"Rücksendung {ret.reference}"
    assert_accessible(page)
    assert page.locator("svg.qr").is_visible()
    assert page.locator("#total").inner_text() == "21,89\xa0€"
    assert page.get_by_role("link", name="Packzettel herunterladen (PDF)").is_visible()
    shot(page, "5-status-de-phone")
    assert (ret.outcome, ret.shipping_method, ret.status, ret.total_amount) == (
        "store_credit",
        "drop_off",
        "label_issued",
        Decimal("21.89"),
    )
    assert ReturnLabel.objects.filter(request=ret).count() == 1

    # Reloading the confirmation (the browser's back button, a double tap) changes nothing.
    page.go_back()
    page.get_by_role("button", name="Rücksendung bestätigen").click()
    assert page.locator("h1").inner_text() == f"Rücksendung {ret.reference}"
    assert ReturnRequest.objects.count() == 1


@browser_test
def test_a_denied_item_shows_the_rules_message_and_a_bad_upload_is_refused(phone, site, store):
    make_shop(store)
    order = make_order(store)
    lines = lines_of(order)
    page = phone

    look_up(page, site, order)
    denial = page.locator(".item.denied .denial")
    assert denial.count() == 1
    assert denial.inner_text() == (
        "Dieser Artikel wurde als Final Sale verkauft und kann nicht zurückgegeben werden."
    )
    assert page.locator(f"#qty-{lines['CAP-1']}").count() == 0
    shot(page, "denied-de-phone")

    page.locator(f"#qty-{lines['MUG-1']}").select_option("1")
    page.get_by_role("button", name="Weiter").click()
    page.get_by_label("Grund").select_option("damaged")
    page.locator(f"#photos-{lines['MUG-1']}").set_input_files(
        files=[{"name": "kaputt.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture"}]
    )
    page.get_by_role("button", name="Weiter").click()

    alert = page.get_by_role("alert")
    assert "kaputt.jpg ist kein Foto, das wir lesen können." in alert.inner_text()
    # The error is announced and has the focus; the chosen reason is kept.
    assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
    assert page.get_by_label("Grund").input_value() == "damaged"
    assert page.locator(f"#reason-{lines['MUG-1']}").get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    shot(page, "bad-upload-de-phone")

    # Photos too large together for one request: stopped in the page, before any upload.
    page.locator(f"#photos-{lines['MUG-1']}").set_input_files(
        files=[{"name": "riesig.jpg", "mimeType": "image/jpeg", "buffer": b"x" * 34_000_000}]
    )
    before = page.url
    page.get_by_role("button", name="Weiter").click()
    warning = page.locator("#too-big")
    assert warning.is_visible()
    assert warning.inner_text().startswith("Diese Fotos sind zusammen zu groß")
    assert page.evaluate("document.activeElement.id") == "too-big"
    assert page.url == before
    assert ReturnRequest.objects.count() == 0


@browser_test
def test_lookup_errors_are_announced(phone, site, store):
    make_shop(store)
    make_order(store)
    page = phone
    page.goto(site + reverse("returns:lookup"))
    page.get_by_role("textbox", name="Bestellnummer").first.fill("9999")
    page.get_by_label("E-Mail-Adresse oder Postleitzahl").fill("x@example.com")
    page.get_by_role("button", name="Meine Bestellung finden").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text().startswith("Wir konnten keine Bestellung mit diesen Angaben finden.")
    assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
    assert_accessible(page)
    shot(page, "lookup-error-de-phone")
