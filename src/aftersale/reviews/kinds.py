"""The messages reviews sends or gives meaning to.

- `review_request` (registered by messaging): its `links.review_url` leads to this app's review
  page for the order (/reviews/w/<signed token>, no login).
- `review_reply`: the merchant answered the shopper's review in public; the message quotes both.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.urls import reverse

from aftersale.core.signing import sign_link
from aftersale.messaging.kinds import MessageKind, get_kind, register_kind
from aftersale.messaging.models import Category

WRITE_SALT = "aftersale.reviews.write"


def write_token(order_public_id: str) -> str:
    return sign_link(WRITE_SALT, {"o": order_public_id})


def write_url(order_public_id: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("reviews:write", args=[write_token(order_public_id)])


def _review_request_context(message) -> dict:
    order = message.order
    order_id = order.public_id if order is not None else "ord_sample"
    return {"links": {"review_url": write_url(order_id)}}


SAMPLE_REVIEW = {
    "rating": 3,
    "stars": "★★★☆☆",
    "title": "Good, but the sizing runs small",
    "text": "Lovely fabric. I had to exchange it for a larger size.",
    "product": "Merino crew sweater",
    "reply": "Thank you! We have added a size note to the product page.",
}


def _review_reply_context(message) -> dict:
    from aftersale.reviews.models import Review

    ref = (message.context or {}).get("review_ref")
    review = None
    if ref:
        review = (
            Review.objects.filter(store=message.store, public_id=ref)
            .select_related("product", "reply")
            .first()
        )
    if review is None:
        data = dict(SAMPLE_REVIEW)
    else:
        reply = getattr(review, "reply", None)
        data = {
            "rating": review.rating,
            "stars": "★" * review.rating + "☆" * (5 - review.rating),
            "title": review.title,
            "text": review.text,
            "product": review.product.title if review.product_id else message.store.name,
            "reply": reply.text if reply else "",
        }
    links = {}
    if message.order is not None:
        links["review_url"] = write_url(message.order.public_id)
    return {"review": data, "links": links}


register_kind(dataclasses.replace(get_kind("review_request"), context=_review_request_context))

REVIEW_REPLY = register_kind(
    MessageKind(
        "review_reply",
        "Reply to your review",
        Category.TRANSACTIONAL,
        priority=20,
        about="order",
        context=_review_reply_context,
    )
)
