"""The shopper pages behind the links in messages, in a real headless Chromium against the live
server: preferences, unsubscribe (page and RFC 8058 one-click), the order page and tracked clicks.
Also: the pages' translations are complete, compiled and keep their placeholders."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po
from django.core import signing
from django.test import Client
from django.urls import reverse

from aftersale.customers.models import Customer
from aftersale.messaging import tokens
from aftersale.messaging.models import ContactPreference, LinkClick
from aftersale.messaging.services import message_enqueue
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.schemas import ShipmentIn
from aftersale.tracking.services import shipment_upsert
from aftersale.tracking.tokens import tracking_url
from tests.browser import PHONE, assert_accessible, chromium

LOCALE_DIR = Path(__file__).resolve().parents[2] / "src" / "aftersale" / "locale"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
browser_test = pytest.mark.django_db(transaction=True)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture
def site(live_server, settings) -> str:
    """The live server's address; the links that tokens build point at it."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport=PHONE, locale="en-US")
    tab = context.new_page()
    yield tab
    context.close()


def make_customer(store, *, locale: str, email: str = "ana@example.com", phone: str = ""):
    return Customer.objects.create(
        store=store,
        email=email,
        first_name="Ana",
        last_name="Souza",
        locale=locale,
        time_zone="Europe/Berlin",
        accepts_marketing=True,
        phone=phone,
    )


def make_order(store, customer, number: str = "1001"):
    data = {
        "external_id": number,
        "number": f"#{number}",
        "placed_at": "2026-11-20T10:00:00Z",
        "email": customer.email,
        "customer": {"email": customer.email},
        "lines": [
            {"title": "Trail Mug", "unit_price": "19.90", "quantity": 2, "sku": "MUG-1"},
            {"title": "Wool Socks", "variant_title": "M", "unit_price": "12.50", "quantity": 1},
        ],
    }
    return order_upsert(store=store, data=OrderIn(**data)).order


def add_shipment(store, order):
    return shipment_upsert(
        store=store,
        data=ShipmentIn(
            order=order.public_id,
            external_id="f1",
            carrier="DHL",
            tracking_number="00340434161234567890",
            tracking_url="https://www.dhl.de/de/privatkunden.html?piececode=00340434161234567890",
            status="in_transit",
        ),
    ).shipment


def tampered(url: str) -> str:
    """The same link with one character of its signature changed."""
    head, signature = url.rsplit(":", 1)
    middle = len(signature) // 2
    swapped = "B" if signature[middle] == "A" else "A"
    return f"{head}:{signature[:middle]}{swapped}{signature[middle + 1 :]}"


def path_of(url: str) -> str:
    return urlsplit(url).path


def one_click(url: str):
    """What a mail client does for RFC 8058: a bare POST, no cookies, no CSRF token."""
    client = Client(enforce_csrf_checks=True)
    return client.post(
        path_of(url), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )


# --- 1. preferences ------------------------------------------------------------------------------


@browser_test
@pytest.mark.parametrize(
    ("locale", "heading", "legend", "button"),
    [
        (
            "de",
            "Ihre Nachrichten-Einstellungen",
            "Was wir Ihnen senden dürfen",
            "Auswahl speichern",
        ),
        (
            "pt-br",
            "Suas preferências de mensagens",
            "O que podemos enviar para você",
            "Salvar minhas escolhas",
        ),
    ],
)
def test_preferences_page_speaks_the_customers_language(
    page, store, locale, heading, legend, button
):
    customer = make_customer(store, locale=locale)

    response = page.goto(tokens.preferences_url(customer.public_id))

    assert response.status == 200
    assert response.headers["content-language"] == locale
    assert page.locator("html").get_attribute("lang") == locale
    assert page.locator("h1").inner_text() == heading
    assert page.locator("legend").first.inner_text() == legend
    assert page.get_by_role("button").inner_text() == button
    assert page.title() == f"{heading} · Acme Outdoor"


@browser_test
def test_unticking_offers_and_saving_persists_and_says_so(page, store):
    customer = make_customer(store, locale="de", phone="+4915112345678")
    page.goto(tokens.preferences_url(customer.public_id))
    offers = page.get_by_label("Angebote, Geburtstags- und Jubiläumsgrüße")
    assert offers.is_checked()
    assert page.locator(".notice").count() == 0

    offers.uncheck()
    page.get_by_role("button", name="Auswahl speichern").click()

    assert page.get_by_role("status").inner_text() == "Ihre Auswahl wurde gespeichert."
    pref = ContactPreference.objects.get(customer=customer)
    assert (pref.feedback, pref.reminders, pref.offers, pref.email, pref.sms) == (
        True,
        True,
        False,
        True,
        True,
    )
    assert pref.updated_via == "preferences page"
    page.reload()
    assert not page.get_by_label("Angebote, Geburtstags- und Jubiläumsgrüße").is_checked()
    assert page.get_by_label("Erinnerungen zum Nachbestellen").is_checked()


@browser_test
def test_saving_without_a_phone_keeps_the_sms_choice(page, store):
    customer = make_customer(store, locale="pt-br")
    page.goto(tokens.preferences_url(customer.public_id))
    assert page.get_by_label("Mensagem de texto (SMS)").count() == 0

    page.get_by_label("Lembretes para comprar de novo").uncheck()
    page.get_by_role("button", name="Salvar minhas escolhas").click()

    assert page.get_by_role("status").inner_text() == "Suas escolhas foram salvas."
    pref = ContactPreference.objects.get(customer=customer)
    assert (pref.reminders, pref.sms) == (False, True)


@browser_test
def test_tampered_preferences_link_shows_the_invalid_link_page_and_changes_nothing(page, store):
    customer = make_customer(store, locale="de")
    url = tampered(tokens.preferences_url(customer.public_id))

    response = page.goto(url)
    posted = Client().post(path_of(url), {"email": "on"})

    assert response.status == 404
    assert page.locator("h1").inner_text() == "This link does not work"
    assert "Acme Outdoor" not in page.content()
    assert posted.status_code == 404
    assert not ContactPreference.objects.exists()


# --- 2. unsubscribe ------------------------------------------------------------------------------


@browser_test
def test_unsubscribe_page_asks_first_then_the_button_unsubscribes(page, site, store):
    customer = make_customer(store, locale="pt-br")
    message, _ = message_enqueue(
        store=store, kind="review_request", order=make_order(store, customer)
    )

    response = page.goto(tokens.unsubscribe_url(message.public_id))

    assert response.status == 200
    assert page.locator("h1").inner_text() == "Cancelar inscrição"
    assert page.locator("main p").first.inner_text() == (
        "Parar de receber estas mensagens: Pedidos de opinião e avaliação?"
    )
    assert not ContactPreference.objects.exists()
    link = page.get_by_role("link", name="Escolher exatamente quais mensagens você recebe")
    href = link.get_attribute("href")
    assert href.startswith(f"{site}/m/p/")
    assert tokens.read_preferences_token(path_of(href).rsplit("/", 1)[1]) == customer.public_id

    page.get_by_role("button", name="Cancelar inscrição").click()

    assert page.locator("h1").inner_text() == "Sua inscrição foi cancelada"
    assert page.get_by_role("status").inner_text() == (
        "Você não vai mais receber estas mensagens: Pedidos de opinião e avaliação."
    )
    pref = ContactPreference.objects.get(customer=customer)
    assert (pref.feedback, pref.reminders, pref.offers) == (False, True, True)
    assert pref.updated_via == "one-click unsubscribe"


@pytest.mark.django_db
def test_one_click_post_without_cookies_or_csrf_unsubscribes_from_the_category(store):
    customer = make_customer(store, locale="de")
    message, _ = message_enqueue(
        store=store, kind="review_request", order=make_order(store, customer)
    )

    response = one_click(tokens.unsubscribe_url(message.public_id))

    assert response.status_code == 200
    pref = ContactPreference.objects.get(customer=customer)
    assert (pref.feedback, pref.reminders, pref.offers, pref.email) == (False, True, True, True)


@pytest.mark.django_db
def test_one_click_from_a_transactional_message_stops_all_marketing(store):
    customer = make_customer(store, locale="de")
    message, _ = message_enqueue(
        store=store, kind="order_confirmation", order=make_order(store, customer)
    )

    response = one_click(tokens.unsubscribe_url(message.public_id))

    assert response.status_code == 200
    assert "Sie sind abgemeldet" in response.content.decode()
    pref = ContactPreference.objects.get(customer=customer)
    assert (pref.feedback, pref.reminders, pref.offers) == (False, False, False)
    assert (pref.email, pref.sms) == (True, True)


@pytest.mark.django_db
def test_one_click_with_a_tampered_token_changes_nothing(store):
    customer = make_customer(store, locale="de")
    message, _ = message_enqueue(
        store=store, kind="review_request", order=make_order(store, customer)
    )

    response = one_click(tampered(tokens.unsubscribe_url(message.public_id)))

    assert response.status_code == 404
    assert not ContactPreference.objects.exists()


# --- 3. order page -------------------------------------------------------------------------------


@browser_test
def test_order_page_shows_lines_and_not_shipped_yet(page, store):
    order = make_order(store, make_customer(store, locale="de"))

    response = page.goto(tokens.order_url(order.public_id))

    assert response.status == 200
    assert page.locator("h1").inner_text() == "Bestellung #1001"
    assert page.locator(".lines li").all_inner_texts() == ["2 × Trail Mug", "1 × Wool Socks M"]
    assert page.get_by_text("Noch nicht versandt.").is_visible()
    assert page.locator(".shipment").count() == 0


@browser_test
def test_order_page_shows_the_carrier_and_tracking_link(page, store):
    order = make_order(store, make_customer(store, locale="en"))
    shipment = add_shipment(store, order)

    page.goto(tokens.order_url(order.public_id))

    assert page.locator(".shipment p").first.inner_text() == (
        "DHL · 00340434161234567890 · In transit"
    )
    track = page.get_by_role("link", name="Track with the carrier")
    assert track.get_attribute("href") == shipment.tracking_url
    assert page.get_by_text("Not shipped yet").count() == 0


# --- 4. tracked clicks ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_click_redirects_to_the_target_and_records_the_click(store):
    message, _ = message_enqueue(
        store=store,
        kind="review_request",
        order=make_order(store, make_customer(store, locale="de")),
    )

    response = Client().get(path_of(tokens.click_url(message.public_id, "https://shop.example/x")))

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example/x"
    click = LinkClick.objects.get()
    assert (click.message_id, click.store_id, click.url) == (
        message.pk,
        store.pk,
        "https://shop.example/x",
    )


@browser_test
def test_click_in_the_browser_follows_the_redirect(page, store):
    order = make_order(store, make_customer(store, locale="de"))
    message, _ = message_enqueue(store=store, kind="review_request", order=order)
    target = tracking_url(order.public_id)

    response = page.goto(tokens.click_url(message.public_id, target))

    assert response.request.redirected_from.response().status == 302
    assert response.url == target
    assert page.locator("h1").inner_text() == "Bestellung #1001"
    assert LinkClick.objects.filter(message=message, url=target).count() == 1


@browser_test
def test_forged_click_records_nothing_and_shows_the_invalid_link_page(page, site, store):
    message, _ = message_enqueue(
        store=store,
        kind="review_request",
        order=make_order(store, make_customer(store, locale="de")),
    )
    forged = signing.dumps(
        {"m": message.public_id, "u": "https://evil.example/"},
        salt="aftersale.messaging.click",
        key="not-this-installations-secret",
        compress=True,
    )

    response = page.goto(site + reverse("messaging:click", args=[forged]))

    assert response.status == 404
    assert page.locator("h1").inner_text() == "This link does not work"
    assert not LinkClick.objects.exists()


# --- 5. accessibility at phone width ------------------------------------------------------------


@browser_test
@pytest.mark.parametrize("which", ["preferences", "unsubscribe", "order", "invalid_link"])
def test_pages_are_accessible_on_a_phone(page, store, which):
    # A long address and long German words are what break narrow layouts.
    customer = make_customer(
        store,
        locale="de",
        email="maria.fernanda.albuquerque.de.oliveira@beispiel-onlineshop.example",
        phone="+4915112345678",
    )
    order = make_order(store, customer)
    add_shipment(store, order)
    message, _ = message_enqueue(store=store, kind="review_request", order=order)
    url = {
        "preferences": tokens.preferences_url(customer.public_id),
        "unsubscribe": tokens.unsubscribe_url(message.public_id),
        "order": tokens.order_url(order.public_id),
        "invalid_link": tampered(tokens.order_url(order.public_id)),
    }[which]
    css = []
    page.on("response", lambda r: css.append(r.status) if r.url.endswith(".css") else None)

    page.goto(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{which}-de-375.png"), full_page=True)

    assert css == [200]
    assert_accessible(page)
    assert page.locator("html").get_attribute("lang") == ("en" if which == "invalid_link" else "de")


# --- translations --------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


@pytest.mark.parametrize("language", ["de", "pt_BR"])
def test_page_translations_are_complete_compiled_and_keep_placeholders(language):
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    with (folder / "django.po").open("rb") as po_file:
        catalog = read_po(po_file)
    with (folder / "django.mo").open("rb") as mo_file:
        compiled = gettext.GNUTranslations(mo_file)
    messages = [m for m in catalog if m.id]

    assert messages, "no messages in the catalog"
    for message in messages:
        assert message.string, f"untranslated: {message.id!r}"
        assert not message.fuzzy, f"fuzzy: {message.id!r}"
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(
            PLACEHOLDER.findall(message.id)
        ), f"placeholders differ in {message.id!r}"
        translated = (
            compiled.pgettext(message.context, message.id)
            if message.context
            else compiled.gettext(message.id)
        )
        assert translated == message.string, f"django.mo is older than django.po: {message.id!r}"
