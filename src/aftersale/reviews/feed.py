"""The Google product reviews feed (Product Reviews Feed schema 2.3) of a store's verified,
published product reviews. Built with ElementTree, so every text is escaped as XML."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from xml.etree import ElementTree as ET

from django.conf import settings
from django.urls import reverse

from aftersale.catalog.models import Variant
from aftersale.core.models import Store
from aftersale.reviews.selectors import feed_reviews, product_url

SCHEMA = "http://www.google.com/shopping/reviews/schema/product/2.3/product_reviews.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _review_element(store: Store, review, skus: dict[int, list[str]]) -> ET.Element:
    product = review.product
    element = ET.Element("review")
    _sub(element, "review_id", review.public_id)
    reviewer = _sub(element, "reviewer")
    if review.author_name:
        _sub(reviewer, "name", review.author_name)
    else:
        _sub(reviewer, "name", "Anonymous", is_anonymous="true")
    stamp = (review.published_at or review.created_at).astimezone(UTC)
    _sub(element, "review_timestamp", stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if review.title:
        _sub(element, "title", review.title)
    _sub(element, "content", review.text or review.title or "—")
    page = settings.PUBLIC_BASE_URL + reverse("reviews:demo", args=[store.slug, product.public_id])
    _sub(element, "review_url", product_url(store, product) or page, type="group")
    ratings = _sub(element, "ratings")
    _sub(ratings, "overall", str(review.rating), min="1", max="5")
    products = _sub(element, "products")
    item = _sub(products, "product")
    ids = _sub(item, "product_ids")
    product_skus = skus.get(product.pk) or []
    if product_skus:
        sku_list = _sub(ids, "skus")
        for sku in product_skus:
            _sub(sku_list, "sku", sku)
    if product.vendor:
        brands = _sub(ids, "brands")
        _sub(brands, "brand", product.vendor)
    _sub(item, "product_name", product.title)
    _sub(item, "product_url", product_url(store, product) or page)
    _sub(element, "is_spam", "false")
    return element


def feed_chunks(store: Store) -> Iterator[str]:
    """The feed as text pieces (streamed: a large store's feed is never held in memory)."""
    skus: dict[int, list[str]] = {}
    for product_id, sku in (
        Variant.objects.filter(store=store)
        .exclude(sku="")
        .order_by("product_id", "id")
        .values_list("product_id", "sku")
    ):
        skus.setdefault(product_id, []).append(sku)
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<feed xmlns:xsi="{XSI}" xsi:noNamespaceSchemaLocation="{SCHEMA}">\n'
    yield "<version>2.3</version>\n"
    aggregator = ET.Element("aggregator")
    _sub(aggregator, "name", "aftersale")
    yield ET.tostring(aggregator, encoding="unicode") + "\n"
    publisher = ET.Element("publisher")
    _sub(publisher, "name", store.name)
    yield ET.tostring(publisher, encoding="unicode") + "\n"
    yield "<reviews>\n"
    for review in feed_reviews(store):
        yield ET.tostring(_review_element(store, review, skus), encoding="unicode") + "\n"
    yield "</reviews>\n</feed>\n"


def feed_xml(store: Store) -> str:
    return "".join(feed_chunks(store))
