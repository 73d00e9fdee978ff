"""What the public sees: the JSON API per product, the widget fragment and script, the Google
feed, and photos behind signed URLs. Review text is escaped in each of them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from django.core.cache import cache

from aftersale.catalog.models import Product
from aftersale.core.bulk import insert_rows
from aftersale.reviews import services
from aftersale.reviews.models import Review, ReviewPhoto
from aftersale.reviews.photos import PhotoUpload
from aftersale.reviews.selectors import photo_url
from tests.reviews.conftest import image_bytes, make_order, products_of

pytestmark = pytest.mark.django_db

EVIL_TITLE = '<script>alert("t")</script>'
EVIL_TEXT = "</script><script>alert('x')</script> & <b>bold</b>"
API = "/api/v1/public/reviews"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


def seed_reviews(store, product, ratings, *, start=datetime(2026, 1, 1, tzinfo=UTC)):
    """Published request-page reviews, one per rating, one day apart (newest last)."""
    rows = []
    for n, rating in enumerate(ratings):
        when = start + timedelta(days=n)
        rows.append(
            {
                "store_id": store.pk,
                "product_id": product.pk,
                "rating": rating,
                "title": f"Review {n}",
                "text": f"Text {n}",
                "author_name": f"Shopper {n}",
                "status": "published",
                "source": "csv",
                "external_id": f"seed-{product.pk}-{n}",
                "created_at": when,
                "updated_at": when,
                "published_at": when,
            }
        )
    insert_rows(Review, rows)
    services.rating_summaries_rebuild(store)


def evil_review(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(
        store,
        order=order,
        drafts=[services.ReviewDraft(mug, rating=5, title=EVIL_TITLE, text=EVIL_TEXT, key="m")],
        author_name="<img src=x onerror=alert(1)>",
    )
    review = Review.objects.get(product=mug)
    services.reviews_approve(store, review_ids=[review.public_id])
    services.review_reply_set(store, review=review, text="<script>reply()</script>")
    return mug, review


def test_api_gives_aggregate_distribution_and_a_sorted_page(client, store):
    product = Product.objects.create(store=store, title="Trail Mug", handle="trail-mug")
    seed_reviews(store, product, [5, 4, 1, 5, 3, 2, 5])

    body = client.get(f"{API}/acme/products/trail-mug", {"page_size": 3}).json()

    assert body["product"] == {"id": product.public_id, "title": "Trail Mug", "handle": "trail-mug"}
    assert body["aggregate"] == {
        "average": 3.57,
        "count": 7,
        "distribution": {"5": 3, "4": 1, "3": 1, "2": 1, "1": 1},
        "with_photos": 0,
    }
    assert (body["page"], body["pages"], body["sort"]) == (1, 3, "newest")
    assert [r["title"] for r in body["reviews"]] == ["Review 6", "Review 5", "Review 4"]
    page3 = client.get(f"{API}/acme/products/trail-mug", {"page_size": 3, "page": 3}).json()
    assert [r["title"] for r in page3["reviews"]] == ["Review 0"]
    highest = client.get(
        f"{API}/acme/products/{product.public_id}", {"sort": "highest", "page_size": 4}
    ).json()
    assert [r["rating"] for r in highest["reviews"]] == [5, 5, 5, 4]
    assert [r["title"] for r in highest["reviews"][:3]] == ["Review 6", "Review 3", "Review 0"]
    lowest = client.get(f"{API}/acme/products/trail-mug", {"sort": "lowest"}).json()
    assert [r["rating"] for r in lowest["reviews"]] == [1, 2, 3, 4, 5, 5, 5]


def test_api_finds_a_product_by_sku_and_sorts_photos_first(client, store, order):
    mug, _ = products_of(order)
    seed_reviews(store, mug, [4, 4])
    services.review_request_submit(
        store,
        order=order,
        drafts=[
            services.ReviewDraft(
                mug, rating=3, photos=[PhotoUpload("a.png", image_bytes("PNG"))], key="m"
            )
        ],
    )
    review = Review.objects.get(source="request")
    services.reviews_approve(store, review_ids=[review.public_id])

    body = client.get(f"{API}/acme/products/MUG-1", {"sort": "with_photos"}).json()

    first = body["reviews"][0]
    assert first["id"] == review.public_id
    photo = ReviewPhoto.objects.get()
    assert first["photos"] == [
        {
            "id": photo.public_id,
            "url": "http://testserver" + photo_url(photo),
            "width": 64,
            "height": 48,
        }
    ]
    assert first["verified_buyer"] is True
    assert body["aggregate"]["with_photos"] == 1
    image = client.get(photo_url(photo))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content)[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/nope/products/trail-mug", {}, 404),
        ("/acme/products/no-such-thing", {}, 404),
        ("/acme/products/trail-mug", {"sort": "random"}, 422),
        ("/acme/products/trail-mug", {"page": 0}, 422),
        ("/acme/products/trail-mug", {"page_size": 51}, 422),
    ],
)
def test_api_refuses_bad_requests(client, store, path, params, status):
    Product.objects.create(store=store, title="Trail Mug", handle="trail-mug")
    assert client.get(API + path, params).status_code == status


def test_other_stores_products_are_not_found_by_slug(client, store, other_store):
    Product.objects.create(store=other_store, title="Caneca", handle="caneca")
    assert client.get(f"{API}/acme/products/caneca").status_code == 404


def test_api_and_pages_need_few_queries_on_ten_thousand_reviews(
    client, store, django_assert_max_num_queries
):
    product = Product.objects.create(store=store, title="Trail Mug", handle="trail-mug")
    seed_reviews(store, product, [(n % 5) + 1 for n in range(10_000)])

    with django_assert_max_num_queries(6):
        body = client.get(f"{API}/acme/products/trail-mug", {"page": 900, "sort": "lowest"}).json()
    assert body["aggregate"]["count"] == 10_000 and len(body["reviews"]) == 10
    assert {r["rating"] for r in body["reviews"]} == {5}
    # the same page again: the product's summary version, then the cache
    with django_assert_max_num_queries(1):
        again = client.get(f"{API}/acme/products/trail-mug", {"page": 900, "sort": "lowest"})
    assert again.json() == body
    with django_assert_max_num_queries(6):
        fragment = client.get(f"/reviews/w/acme/{product.public_id}/fragment", {"page": 2})
    assert fragment.status_code == 200
    with django_assert_max_num_queries(1):
        client.get(f"/reviews/w/acme/{product.public_id}/fragment", {"page": 2})
    assert "Page 2 of 1000" in fragment.content.decode()


def test_unpublished_and_other_products_reviews_stay_out(client, store, order):
    mug, socks = products_of(order)
    services.review_request_submit(
        store,
        order=order,
        drafts=[
            services.ReviewDraft(mug, rating=1, text="bad", key="a"),
            services.ReviewDraft(socks, rating=5, text="good", key="b"),
        ],
    )
    body = client.get(f"{API}/acme/products/trail-mug").json()
    assert body["aggregate"]["count"] == 0 and body["reviews"] == []
    # a held photo is not served even with a signed URL
    photo_less = client.get(f"/reviews/w/acme/{mug.public_id}/fragment").content.decode()
    assert "No reviews yet." in photo_less and "good" not in photo_less


def test_held_photos_are_not_served(client, store, order):
    mug, _ = products_of(order)
    services.review_request_submit(
        store,
        order=order,
        drafts=[services.ReviewDraft(mug, rating=5, photos=[PhotoUpload("a.jpg", image_bytes())])],
    )
    photo = ReviewPhoto.objects.get()
    assert photo.status == "pending"
    assert client.get(photo_url(photo)).status_code == 404
    assert client.get("/reviews/p/forged-token").status_code == 404


def test_script_tags_are_escaped_in_api_fragment_jsonld_and_feed(client, store, order):
    mug, _review = evil_review(store, order)

    api = client.get(f"{API}/acme/products/trail-mug").json()
    assert api["reviews"][0]["title"] == EVIL_TITLE  # JSON carries the text as data
    assert api["reviews"][0]["reply"]["text"] == "<script>reply()</script>"

    html = client.get(f"/reviews/w/acme/{mug.public_id}/fragment").content.decode()
    assert "<script>alert" not in html and "<script>reply" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    # the only script element is the JSON-LD, and nothing inside it can close it
    assert html.count("<script") == 1
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in ld and ">" not in ld
    data = json.loads(ld)
    assert data["@type"] == "Product"
    assert data["aggregateRating"] == {
        "@type": "AggregateRating",
        "ratingValue": "5.00",
        "reviewCount": 1,
        "bestRating": 5,
        "worstRating": 1,
    }
    assert data["review"][0]["name"] == EVIL_TITLE
    assert data["review"][0]["reviewBody"] == EVIL_TEXT

    feed = client.get("/reviews/feed/acme.xml")
    xml = b"".join(feed.streaming_content).decode()
    assert "<script>" not in xml
    root = ET.fromstring(xml)
    (node,) = root.find("reviews")
    assert node.findtext("title") == EVIL_TITLE
    assert node.findtext("content") == EVIL_TEXT
    assert node.find("reviewer/name").text == "<img src=x onerror=alert(1)>"


def test_feed_lists_only_verified_published_product_reviews(client, store, order):
    mug, socks = products_of(order)
    seed_reviews(store, mug, [5])  # imported: not verified
    services.review_request_submit(
        store,
        order=order,
        drafts=[
            services.ReviewDraft(mug, rating=4, title="Solid", text="Good mug", key="a"),
            services.ReviewDraft(
                socks, rating=1, title="Holes", text="Holes after a week", key="b"
            ),  # held
            services.ReviewDraft(
                None, rating=5, title="Shop", text="Great shop", key="c"
            ),  # not a product
        ],
    )
    verified = Review.objects.get(product=mug, source="request")

    response = client.get("/reviews/feed/acme.xml")

    assert response["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(b"".join(response.streaming_content))
    assert root.tag == "feed" and root.findtext("version") == "2.3"
    assert root.findtext("publisher/name") == "Acme Outdoor"
    reviews = root.find("reviews").findall("review")
    assert [r.findtext("review_id") for r in reviews] == [verified.public_id]
    review = reviews[0]
    assert review.find("ratings/overall").attrib == {"min": "1", "max": "5"}
    assert review.findtext("ratings/overall") == "4"
    assert review.findtext("products/product/product_ids/skus/sku") == "MUG-1"
    assert review.findtext("products/product/product_name") == "Trail Mug"
    assert client.get("/reviews/feed/nope.xml").status_code == 404


def test_fragment_follows_publishing_at_once(client, store, order):
    mug, _ = products_of(order)
    url = f"/reviews/w/acme/{mug.public_id}/fragment"
    assert "No reviews yet." in client.get(url).content.decode()
    services.review_request_submit(
        store, order=order, drafts=[services.ReviewDraft(mug, rating=5, title="Lovely", key="a")]
    )
    html = client.get(url).content.decode()
    assert "Lovely" in html and "1 review" in html
    review = Review.objects.get()
    services.review_reply_set(store, review=review, text="Thanks for the kind words")
    assert "Thanks for the kind words" in client.get(url).content.decode()


def test_fragment_speaks_the_requested_language_and_allows_cross_origin(client, store, order):
    mug, _ = products_of(order)
    seed_reviews(store, mug, [5, 4])
    response = client.get(f"/reviews/w/acme/{mug.public_id}/fragment", {"lang": "de"})
    html = response.content.decode()
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Content-Language"] == "de"
    assert "Kundenbewertungen" in html and "4,5 von 5" in html
    pt = client.get(f"/reviews/w/acme/{mug.public_id}/fragment", {"lang": "pt-br"})
    assert "Avaliações de clientes" in pt.content.decode()


def test_widget_script_contacts_only_its_own_server(client, store):
    response = client.get("/reviews/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    source = response.content.decode()
    assert "/fragment" in source and "document.currentScript" in source
    assert re.findall(r"https?://", source) == []  # no third-party host anywhere


def test_demo_page_includes_the_fragment_and_the_script(client, store, order):
    mug, _ = products_of(order)
    seed_reviews(store, mug, [5])
    html = client.get(f"/reviews/w/acme/{mug.public_id}/demo").content.decode()
    assert 'data-aftersale-reviews data-store="acme"' in html
    assert "Review 0" in html and 'src="/reviews/widget.js"' in html
    assert client.get("/reviews/w/acme/prd_nope/demo").status_code == 404


def test_two_orders_reviews_of_one_product_add_up(client, store):
    first = make_order(store, number="1")
    second = make_order(store, number="2", email="bo@example.com")
    for order, rating in ((first, 5), (second, 4)):
        mug, _ = products_of(order)
        services.review_request_submit(
            store, order=order, drafts=[services.ReviewDraft(mug, rating=rating, key="a")]
        )
    body = client.get(f"{API}/acme/products/trail-mug").json()
    assert body["aggregate"]["count"] == 2 and body["aggregate"]["average"] == 4.5
