"""The merchant's reviews API (API key): list, get, moderate, reply — store-scoped."""

from __future__ import annotations

import pytest

from aftersale.messaging.models import Message
from aftersale.reviews import services
from aftersale.reviews.models import Review, ReviewReply
from tests.reviews.conftest import products_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviews(store, order):
    mug, socks = products_of(order)
    services.review_request_submit(
        store,
        order=order,
        drafts=[
            services.ReviewDraft(mug, rating=5, title="Great", text="see www.spam.example.com"),
            services.ReviewDraft(socks, rating=2, text="thin"),
        ],
    )
    return Review.objects.get(product=mug), Review.objects.get(product=socks)


def test_list_and_get(api, reviews):
    flagged, low = reviews
    body = api.get("/api/v1/reviews", {"status": "pending"}).json()
    assert [r["id"] for r in body["data"]] == [flagged.public_id, low.public_id]
    one = api.get(f"/api/v1/reviews/{flagged.public_id}").json()
    assert one["flags"] == [{"kind": "link", "field": "text", "match": "www.spam.example.com"}]
    assert one["verified_buyer"] is True and one["source"] == "request"
    assert one["order_id"] == flagged.order.public_id


def test_moderate_and_reply(api, reviews):
    flagged, low = reviews
    response = api.post(
        "/api/v1/reviews/moderate",
        {"action": "approve", "reviews": [flagged.public_id, low.public_id]},
    )
    assert response.json() == {"changed": 2}
    reply = api.put(f"/api/v1/reviews/{low.public_id}/reply", {"text": "We are sorry!"})
    assert reply.status_code == 200 and reply.json()["reply"] == "We are sorry!"
    assert Message.objects.filter(kind="review_reply").count() == 1


def test_bad_moderation_changes_nothing(api, reviews):
    flagged, _ = reviews
    unknown = api.post(
        "/api/v1/reviews/moderate", {"action": "approve", "reviews": [flagged.public_id, "rev_x"]}
    )
    assert unknown.status_code == 404
    wrong = api.post("/api/v1/reviews/moderate", {"action": "delete", "reviews": ["x"]})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "action"
    assert set(Review.objects.values_list("status", flat=True)) == {"pending"}


def test_read_only_keys_cannot_moderate(read_api, reviews):
    flagged, _ = reviews
    response = read_api.post(
        "/api/v1/reviews/moderate", {"action": "approve", "reviews": [flagged.public_id]}
    )
    assert response.status_code == 403
    assert Review.objects.get(pk=flagged.pk).status == "pending"


def test_another_store_gets_404_and_changes_nothing(other_api, reviews):
    flagged, low = reviews
    assert other_api.get("/api/v1/reviews").json()["data"] == []
    assert other_api.get(f"/api/v1/reviews/{flagged.public_id}").status_code == 404
    moderate = other_api.post(
        "/api/v1/reviews/moderate", {"action": "reject", "reviews": [low.public_id]}
    )
    assert moderate.status_code == 404
    reply = other_api.put(f"/api/v1/reviews/{low.public_id}/reply", {"text": "hi"})
    assert reply.status_code == 404
    assert set(Review.objects.values_list("status", flat=True)) == {"pending"}
    assert not ReviewReply.objects.exists()
