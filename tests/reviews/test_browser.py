"""The review page and the widget in a real headless Chromium: accessible on a phone, working
without JavaScript, and never contacting another host."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache

from aftersale.reviews import services
from aftersale.reviews.kinds import write_token
from aftersale.reviews.models import Review, ReviewPhoto
from tests.browser import PHONE, assert_accessible, chromium
from tests.reviews.conftest import image_bytes, products_of
from tests.reviews.test_public import seed_reviews

browser_test = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture
def site(live_server, settings) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    cache.clear()
    return live_server.url


@pytest.fixture
def shop_server():
    """A merchant's shop on another origin (its own port) serving one product page."""
    servers = []

    def start(html: str) -> str:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def open_tab(browser, site: str, *, javascript: bool = True, locale: str = "en-US"):
    """A phone-sized tab that records every host it contacts."""
    context = browser.new_context(viewport=PHONE, locale=locale, java_script_enabled=javascript)
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    return context, page, hosts


@browser_test
@pytest.mark.parametrize("javascript", [True, False])
def test_writing_reviews_on_a_phone(browser, site, store, order, tmp_path, javascript):
    order.customer.locale = "pt-br"
    order.customer.save()
    mug, _ = products_of(order)
    photo = tmp_path / "mug.png"
    photo.write_bytes(image_bytes("PNG"))
    context, page, hosts = open_tab(browser, site, javascript=javascript)

    page.goto(f"{site}/reviews/w/{write_token(order.public_id)}")

    assert page.locator("h1").inner_text() == "Avalie seu pedido #1001"
    assert_accessible(page)
    # the stars are a radio group named by its legend; each choice has a spoken label
    group = page.get_by_role("group", name="Sua nota").first
    group.get_by_label("4 estrelas").check()
    page.get_by_label("Título").first.fill("Boa caneca")
    page.get_by_label("Sua avaliação").first.fill("Mantém o café quente.")
    page.locator(f"#p-{mug.public_id}").set_input_files(str(photo))
    page.get_by_role("group", name="Sua nota para a loja").get_by_label("5 estrelas").check()
    page.get_by_role("button", name="Enviar minha avaliação").click()
    page.wait_for_load_state("networkidle")

    assert "Obrigado pela sua avaliação!" in page.locator("#thanks").inner_text()
    assert_accessible(page)
    review = Review.objects.get(product=mug)
    assert (review.rating, review.title, review.locale) == (4, "Boa caneca", "pt-br")
    assert ReviewPhoto.objects.get().review == review
    assert Review.objects.get(product=None).rating == 5
    # sending the page again updates, never duplicates
    page.get_by_role("button", name="Atualizar minha avaliação").click()
    page.wait_for_load_state("networkidle")
    assert Review.objects.count() == 2
    assert hosts == {urlsplit(site).netloc}
    context.close()


@browser_test
def test_a_missing_rating_is_announced_next_to_its_stars(browser, site, store, order):
    context, page, _ = open_tab(browser, site)
    page.goto(f"{site}/reviews/w/{write_token(order.public_id)}")
    page.get_by_label("Your review").first.fill("No stars given")
    page.get_by_role("button", name="Send my review").click()
    page.wait_for_load_state("networkidle")

    assert page.get_by_role("alert").inner_text().startswith("Please check your review:")
    invalid = page.locator("[aria-invalid=true]")
    assert invalid.count() == 5  # the five radios of the block at fault
    assert_accessible(page)
    assert not Review.objects.exists()
    context.close()


@browser_test
def test_the_widget_on_a_shop_page_loads_sorts_and_pages(browser, site, store, order, shop_server):
    mug, _ = products_of(order)
    seed_reviews(store, mug, [(n % 5) + 1 for n in range(25)])
    services.review_request_submit(
        store,
        order=order,
        drafts=[services.ReviewDraft(mug, rating=5, title="<script>window.pwned=1</script>")],
    )
    context, page, hosts = open_tab(browser, site)
    shop_page = (
        '<!doctype html><html lang="en"><head><title>Trail Mug</title></head><body>'
        "<h1>Trail Mug</h1>"
        f'<div data-aftersale-reviews data-store="acme" data-product="trail-mug"></div>'
        f'<script src="{site}/reviews/widget.js"></script></body></html>'
    )

    shop = shop_server(shop_page)
    page.goto(f"{shop}/products/trail-mug")
    page.wait_for_selector(".asr-review")

    widget = page.locator("[data-aftersale-reviews]")
    assert "26 reviews" in widget.inner_text()
    assert page.evaluate("window.pwned") is None
    titles = widget.locator(".asr-review-title")
    assert titles.first.inner_text() == "<script>window.pwned=1</script>"
    widget.get_by_role("link", name="Lowest rated").click()
    page.wait_for_function(
        "document.querySelector('.asr-sort [aria-current]').dataset.sort === 'lowest'"
    )
    assert widget.locator(".asr-rating .asr-sr").first.inner_text() == "1 of 5 stars"
    widget.get_by_role("link", name="Next").click()
    page.wait_for_function("document.querySelector('.asr-pages span').innerText.includes('2 of')")
    assert page.url == f"{shop}/products/trail-mug"  # stayed on the shop's page
    assert_accessible(page)
    assert hosts == {urlsplit(shop).netloc, urlsplit(site).netloc}
    context.close()


@browser_test
def test_the_widget_preview_page_works_without_javascript(browser, site, store, order):
    mug, _ = products_of(order)
    seed_reviews(store, mug, [5, 4, 3])
    context, page, hosts = open_tab(browser, site, javascript=False)
    page.goto(f"{site}/reviews/w/acme/{mug.public_id}/demo?lang=de")
    assert "3 Bewertungen" in page.locator(".asr-summary").inner_text()
    page.get_by_role("link", name="Schlechteste Bewertung").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".asr-rating .asr-sr").first.inner_text() == "3 von 5 Sternen"
    assert_accessible(page)
    assert hosts == {urlsplit(site).netloc}
    context.close()
