"""Reviews in the JSON API: the public product reviews (no key, for shop front ends) and the
merchant's list, moderation and replies (API key)."""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Query, Router

from aftersale.core.auth import require_write
from aftersale.core.pagination import paginate
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS
from aftersale.core.services import NotFound
from aftersale.reviews import selectors, services
from aftersale.reviews.models import Review
from aftersale.reviews.schemas import (
    ModerateIn,
    ModerateOut,
    PublicQuery,
    PublicReviewsOut,
    ReplyIn,
    ReviewFilters,
    ReviewOut,
    ReviewPage,
    public_page_out,
    review_out,
)
from aftersale.reviews.views import cached_public

router = Router(tags=["reviews"])


@router.get(
    "/public/reviews/{store_slug}/products/{product_ref}",
    auth=None,
    response={200: PublicReviewsOut, **READ_ERRORS},
    summary="A product's published reviews (public)",
)
def public_product_reviews(request, store_slug: str, product_ref: str, q: Query[PublicQuery]):
    """No API key. `product_ref` is the product id (prd_…), its handle or a SKU. Aggregate rating
    and distribution of all published reviews, then one page sorted newest / highest / lowest /
    with_photos first. Cached under the product's summary version, so never stale."""
    base = request.build_absolute_uri("/").rstrip("/")

    def build() -> bytes:
        store, product = selectors.public_product(store_slug, product_ref)
        page = selectors.public_reviews_page(
            store, product, sort=q.sort, page=q.page, page_size=q.page_size
        )
        body = PublicReviewsOut.model_validate(public_page_out(page, base))
        return body.model_dump_json(by_alias=True).encode()

    params = (q.sort, q.page, q.page_size, base)
    content = cached_public("api", store_slug, product_ref, params, build)
    response = HttpResponse(content, content_type="application/json; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=60"
    return response


def _review(store, ref: str) -> Review:
    review = (
        Review.objects.filter(store=store, public_id=ref)
        .select_related("product", "order", "customer", "reply")
        .prefetch_related("flags")
        .first()
    )
    if review is None:
        raise NotFound("review not found")
    return review


@router.get("/reviews", response={200: ReviewPage, **READ_ERRORS}, summary="List reviews")
def list_reviews(request, filters: Query[ReviewFilters]):
    """Oldest change first; follow `next_cursor` until it is null."""
    qs = Review.objects.filter(store=request.store)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.product:
        qs = qs.filter(product__public_id=filters.product)
    qs = qs.select_related("product", "order", "customer", "reply").prefetch_related("flags")
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"data": [review_out(r) for r in rows], "next_cursor": next_cursor}


@router.post(
    "/reviews/moderate",
    response={200: ModerateOut, **WRITE_ERRORS},
    summary="Approve or reject reviews",
)
def moderate_reviews(request, payload: ModerateIn):
    """All or nothing: an unknown review id answers 404 and changes none."""
    require_write(request)
    action = services.reviews_approve if payload.action == "approve" else services.reviews_reject
    return {"changed": action(request.store, review_ids=payload.reviews)}


@router.get("/reviews/{ref}", response={200: ReviewOut, **READ_ERRORS}, summary="Get a review")
def get_review(request, ref: str):
    return review_out(_review(request.store, ref))


@router.put(
    "/reviews/{ref}/reply",
    response={200: ReviewOut, **WRITE_ERRORS},
    summary="Publish the merchant's reply",
)
def reply_review(request, ref: str, payload: ReplyIn):
    """The first reply tells the shopper by a `review_reply` message."""
    require_write(request)
    review = _review(request.store, ref)
    services.review_reply_set(request.store, review=review, text=payload.text)
    return review_out(_review(request.store, ref))
