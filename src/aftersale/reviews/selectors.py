"""Reads about reviews: scoped to a store, prefetched, and what higher apps (feedback reports,
journeys) may call."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, F, Prefetch, QuerySet

from aftersale.catalog.models import Product, Variant
from aftersale.core.models import Store
from aftersale.core.services import DomainError, NotFound
from aftersale.core.signing import sign_link
from aftersale.customers.models import Customer
from aftersale.orders.models import Order
from aftersale.reviews.models import (
    RatingSummary,
    Review,
    ReviewPhoto,
    ReviewSettings,
)

PHOTO_SALT = "reviews.photo"

# -- flows --------------------------------------------------------------------------------------

JOURNEY_TRIGGERS = {
    "review.created": "a shopper wrote a review (or changed one)",
    "review.published": "a review was published",
    "review.replied": "the merchant replied to a review",
}


def _customer_has_left_review(facts: Any) -> bool:
    """Whether the enrolment's customer has written any review (any source, any status); with
    no customer, whether the enrolment's order has one."""
    key = "reviews.customer_has_left_review"
    if key not in facts.cache:
        if facts.customer is not None:
            found = Review.objects.filter(store=facts.store, customer=facts.customer).exists()
        elif facts.order is not None:
            found = Review.objects.filter(store=facts.store, order=facts.order).exists()
        else:
            found = False
        facts.cache[key] = found
    return facts.cache[key]


def _order_has_review(facts: Any) -> bool:
    if facts.order is None:
        return False
    return Review.objects.filter(store=facts.store, order=facts.order).exists()


JOURNEY_FIELDS = {
    "customer.has_left_review": _customer_has_left_review,
    "order.has_review": _order_has_review,
}


# -- settings -----------------------------------------------------------------------------------


def review_settings(store: Store) -> ReviewSettings:
    """The store's review settings (defaults when it never saved any; not written here)."""
    found = ReviewSettings.objects.filter(store=store).first()
    return found or ReviewSettings(store=store)


# -- lists and aggregates ---------------------------------------------------------------------


def review_list(
    store: Store,
    *,
    status: str | None = None,
    source: str | None = None,
    product: Product | None = None,
    store_level: bool | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[Review]:
    """A store's reviews, newest first, with product, order and customer loaded.
    `store_level=True` keeps only reviews of the store overall, False only product reviews."""
    qs = Review.objects.filter(store=store).select_related("product", "order", "customer")
    if status:
        qs = qs.filter(status=status)
    if source:
        qs = qs.filter(source=source)
    if product is not None:
        qs = qs.filter(product=product)
    if store_level is not None:
        qs = qs.filter(product__isnull=store_level)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def order_review_scores(store: Store, *, source: str | None = None) -> QuerySet:
    """One row per review tied to an order: {"order_id" (internal pk), "rating", "created_at",
    "product_id" (null for store reviews), "source"} — what reports join with deliveries (days
    late vs score). Rejected reviews are left out."""
    qs = Review.objects.filter(store=store, order__isnull=False).exclude(
        status=Review.Status.REJECTED
    )
    if source:
        qs = qs.filter(source=source)
    return qs.values("order_id", "rating", "created_at", "product_id", "source")


def product_rating_summaries(store: Store, *, products: list[Product] | None = None):
    """Published-review aggregates per product (stored, one row each): RatingSummary rows with
    count, average, distribution, with_photos; the store-overall row has product None."""
    qs = RatingSummary.objects.filter(store=store).select_related("product")
    if products is not None:
        qs = qs.filter(product__in=products)
    return qs.order_by("product_id")


def rating_summary(store: Store, product: Product | None) -> RatingSummary:
    """The stored aggregate of one product (None: the store overall); zeros when none yet."""
    found = RatingSummary.objects.filter(store=store, product=product).first()
    return found or RatingSummary(store=store, product=product)


def product_ratings_live(store: Store, *, status: str = Review.Status.PUBLISHED) -> QuerySet:
    """Computed, not stored: per product {"product_id", "count", "average"} for reviews in the
    given status — for reports that want pending reviews too."""
    return (
        Review.objects.filter(store=store, status=status, product__isnull=False)
        .values("product_id")
        .annotate(count=Count("id"), average=Avg("rating"))
        .order_by("product_id")
    )


def customer_has_reviewed(store: Store, customer: Customer) -> bool:
    return Review.objects.filter(store=store, customer=customer).exists()


def order_reviews(store: Store, order: Order) -> list[Review]:
    """The reviews written about one order (request page, or imported), products first."""
    return list(
        Review.objects.filter(store=store, order=order)
        .select_related("product")
        .prefetch_related(
            Prefetch("photos", queryset=ReviewPhoto.objects.order_by("id")), "revisions"
        )
        .order_by(F("product_id").asc(nulls_last=True), "id")
    )


def moderation_queue(store: Store) -> QuerySet[Review]:
    """Pending reviews, oldest first, with flags and photos to show why they wait."""
    return (
        Review.objects.filter(store=store, status=Review.Status.PENDING)
        .select_related("product", "order", "customer")
        .prefetch_related("flags", "photos")
        .order_by("created_at", "id")
    )


# -- photos ---------------------------------------------------------------------------------------


def photo_token(photo: ReviewPhoto) -> str:
    return sign_link(PHOTO_SALT, {"p": photo.public_id})


def photo_url(photo: ReviewPhoto) -> str:
    """The signed URL that serves one photo (only approved photos answer to the public)."""
    from django.urls import reverse

    return reverse("reviews:photo", args=[photo_token(photo)])


# -- publishing: what the public API, the widget and the feed read --------------------------------

SORTS = {
    "newest": ("-published_at", "-id"),
    "highest": ("-rating", "-published_at", "-id"),
    "lowest": ("rating", "-published_at", "-id"),
    "with_photos": ("-photo_count", "-published_at", "-id"),
}
PAGE_SIZE_MAX = 50


def public_version(store_slug: str, product_ref: str) -> tuple[int, int, int] | None:
    """(store pk, product pk, summary version) in one query, for cache keys of the public API and
    widget; None when the product has no summary yet or is named by SKU (then the caller takes
    the full path, public_product)."""
    ref = (product_ref or "").strip()
    if not ref:
        return None
    qs = RatingSummary.objects.filter(store__slug=store_slug, product__isnull=False)
    if ref.startswith("prd_"):
        qs = qs.filter(product__public_id=ref)
    else:
        qs = qs.filter(product__handle=ref)
    return qs.order_by("product_id").values_list("store_id", "product_id", "version").first()


def public_product(store_slug: str, product_ref: str) -> tuple[Store, Product]:
    """The store by slug and its product by public id, handle or SKU; NotFound otherwise."""
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        raise NotFound("store not found", field="store")
    ref = (product_ref or "").strip()
    product = None
    if ref.startswith("prd_"):
        product = Product.objects.filter(store=store, public_id=ref).first()
    if product is None and ref:
        product = Product.objects.filter(store=store, handle=ref).order_by("id").first()
    if product is None and ref:
        variant = (
            Variant.objects.filter(store=store, sku=ref)
            .select_related("product")
            .order_by("id")
            .first()
        )
        product = variant.product if variant else None
    if product is None:
        raise NotFound("product not found", field="product")
    return store, product


@dataclass
class PublicPage:
    store: Store
    product: Product
    summary: RatingSummary
    reviews: list[Review]
    sort: str
    page: int
    page_size: int

    @property
    def total(self) -> int:
        return self.summary.count

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def public_reviews_page(
    store: Store, product: Product, *, sort: str = "newest", page: int = 1, page_size: int = 10
) -> PublicPage:
    """One page of a product's published reviews, with approved photos and the merchant's reply.
    Three queries whatever the page: the stored summary, the page, its photos."""
    if sort not in SORTS:
        raise DomainError(f"sort is one of {', '.join(SORTS)}", field="sort")
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise DomainError(f"page_size is between 1 and {PAGE_SIZE_MAX}", field="page_size")
    if page < 1:
        raise DomainError("page starts at 1", field="page")
    summary = rating_summary(store, product)
    start = (page - 1) * page_size
    reviews = []
    if start < summary.count:
        reviews = list(
            Review.objects.filter(store=store, product=product, status=Review.Status.PUBLISHED)
            .select_related("reply")
            .prefetch_related(
                Prefetch(
                    "photos",
                    queryset=ReviewPhoto.objects.filter(
                        status=ReviewPhoto.Status.APPROVED
                    ).order_by("id"),
                    to_attr="public_photos",
                )
            )
            .order_by(*SORTS[sort])[start : start + page_size]
        )
        for review in reviews:
            for photo in review.public_photos:
                photo.signed_url = photo_url(photo)
    return PublicPage(store, product, summary, reviews, sort, page, page_size)


def stars_text(value: float | int | None) -> str:
    if not value:
        return "☆☆☆☆☆"
    full = round(float(value))
    return "★" * full + "☆" * (5 - full)


def product_url(store: Store, product: Product) -> str:
    base = (store.website_url or "").rstrip("/")
    if base and product.handle:
        return f"{base}/products/{product.handle}"
    return base


def _safe_json(data: dict) -> str:
    """JSON for a <script> element: <, > and & escaped so no text can close the element."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def product_jsonld(page: PublicPage) -> str:
    """schema.org Product with AggregateRating and the page's reviews, ready for a
    <script type="application/ld+json"> element (escaped)."""
    product = page.product
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "productID": product.public_id,
    }
    if product.image_url:
        data["image"] = product.image_url
    if product.vendor:
        data["brand"] = {"@type": "Brand", "name": product.vendor}
    url = product_url(page.store, product)
    if url:
        data["url"] = url
    if page.summary.count:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": f"{page.summary.average:.2f}",
            "reviewCount": page.summary.count,
            "bestRating": 5,
            "worstRating": 1,
        }
        data["review"] = [
            {
                "@type": "Review",
                "author": {"@type": "Person", "name": r.author_name or "Anonymous"},
                "datePublished": (r.published_at or r.created_at).date().isoformat(),
                "name": r.title,
                "reviewBody": r.text,
                "reviewRating": {
                    "@type": "Rating",
                    "ratingValue": r.rating,
                    "bestRating": 5,
                    "worstRating": 1,
                },
            }
            for r in page.reviews
        ]
    return _safe_json(data)


def feed_reviews(store: Store):
    """Verified, published product reviews for the Google feed, oldest first, streamed."""
    return (
        Review.objects.filter(
            store=store,
            status=Review.Status.PUBLISHED,
            verified_buyer=True,
            product__isnull=False,
        )
        .select_related("product")
        .order_by("published_at", "id")
        .iterator(chunk_size=1000)
    )
