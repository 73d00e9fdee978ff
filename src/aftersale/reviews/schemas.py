"""Shapes of the reviews API: the public product reviews (no key) and the merchant's reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from aftersale.core.schemas import StrictSchema
from aftersale.reviews.models import Review, ReviewPhoto
from aftersale.reviews.selectors import PublicPage, photo_url

Sort = Literal["newest", "highest", "lowest", "with_photos"]


class DistributionOut(Schema):
    one: int = Field(..., alias="1")
    two: int = Field(..., alias="2")
    three: int = Field(..., alias="3")
    four: int = Field(..., alias="4")
    five: int = Field(..., alias="5")


class AggregateOut(Schema):
    average: float | None = Field(..., description="mean rating, 2 decimals; null with none")
    count: int
    distribution: dict[str, int] = Field(..., description='{"5": n, "4": n, … "1": n}')
    with_photos: int


class PhotoOut(Schema):
    id: str
    url: str
    width: int
    height: int


class ReplyOut(Schema):
    text: str
    created_at: datetime


class PublicReviewOut(Schema):
    id: str
    rating: int
    title: str
    text: str
    author_name: str
    locale: str
    verified_buyer: bool
    incentivised: bool
    published_at: datetime | None
    photos: list[PhotoOut]
    reply: ReplyOut | None


class PublicProductOut(Schema):
    id: str
    title: str
    handle: str


class PublicReviewsOut(Schema):
    product: PublicProductOut
    aggregate: AggregateOut
    sort: Sort
    page: int
    page_size: int
    pages: int
    reviews: list[PublicReviewOut]


class PublicQuery(Schema):
    sort: Sort = "newest"
    page: int = Field(1, ge=1)
    page_size: int = Field(10, ge=1, le=50)


def _photo_out(photo: ReviewPhoto, base: str) -> dict:
    return {
        "id": photo.public_id,
        "url": base + photo_url(photo),
        "width": photo.width,
        "height": photo.height,
    }


def _reply_out(review: Review) -> dict | None:
    reply = getattr(review, "reply", None) if _has_reply(review) else None
    return {"text": reply.text, "created_at": reply.created_at} if reply else None


def _has_reply(review: Review) -> bool:
    try:
        review.reply  # noqa: B018
    except Review.reply.RelatedObjectDoesNotExist:
        return False
    return True


def public_page_out(page: PublicPage, base: str) -> dict:
    summary = page.summary
    return {
        "product": {
            "id": page.product.public_id,
            "title": page.product.title,
            "handle": page.product.handle,
        },
        "aggregate": {
            "average": summary.average,
            "count": summary.count,
            "distribution": {str(k): v for k, v in summary.distribution.items()},
            "with_photos": summary.with_photos,
        },
        "sort": page.sort,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
        "reviews": [
            {
                "id": r.public_id,
                "rating": r.rating,
                "title": r.title,
                "text": r.text,
                "author_name": r.author_name,
                "locale": r.locale,
                "verified_buyer": r.verified_buyer,
                "incentivised": r.incentivised,
                "published_at": r.published_at,
                "photos": [_photo_out(p, base) for p in getattr(r, "public_photos", [])],
                "reply": _reply_out(r),
            }
            for r in page.reviews
        ],
    }


# -- the merchant's API ---------------------------------------------------------------------------


class ReviewOut(Schema):
    id: str
    product_id: str | None
    order_id: str | None
    customer_id: str | None
    rating: int
    title: str
    text: str
    author_name: str
    locale: str
    status: Literal["pending", "published", "rejected"]
    source: Literal["request", "csv", "olist", "api"]
    verified_buyer: bool
    incentivised: bool
    external_id: str | None
    flags: list[dict[str, str]]
    photo_count: int
    revision_count: int
    reply: str | None
    created_at: datetime
    published_at: datetime | None


def review_out(review: Review) -> dict:
    return {
        "id": review.public_id,
        "product_id": review.product.public_id if review.product_id else None,
        "order_id": review.order.public_id if review.order_id else None,
        "customer_id": review.customer.public_id if review.customer_id else None,
        "rating": review.rating,
        "title": review.title,
        "text": review.text,
        "author_name": review.author_name,
        "locale": review.locale,
        "status": review.status,
        "source": review.source,
        "verified_buyer": review.verified_buyer,
        "incentivised": review.incentivised,
        "external_id": review.external_id,
        "flags": [{"kind": f.kind, "field": f.field, "match": f.match} for f in review.flags.all()],
        "photo_count": review.photo_count,
        "revision_count": review.revision_count,
        "reply": review.reply.text if _has_reply(review) else None,
        "created_at": review.created_at,
        "published_at": review.published_at,
    }


class ReviewPage(Schema):
    data: list[ReviewOut]
    next_cursor: str | None


class ReviewFilters(Schema):
    status: Literal["pending", "published", "rejected"] | None = None
    product: str | None = Field(None, description="a product id, prd_…")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class ModerateIn(StrictSchema):
    action: Literal["approve", "reject"]
    reviews: list[str] = Field(..., min_length=1, max_length=500)


class ModerateOut(Schema):
    changed: int


class ReplyIn(StrictSchema):
    text: str = Field(..., min_length=1, max_length=5000)
