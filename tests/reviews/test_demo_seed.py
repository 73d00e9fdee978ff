"""The demo's reviews: realistic, deterministic, and every highlighted link answers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from aftersale.demo import reviews_seed
from aftersale.reviews.models import (
    ModerationFlag,
    RatingSummary,
    Review,
    ReviewPhoto,
    ReviewReply,
)
from aftersale.tracking.models import Shipment
from tests.reviews.conftest import make_order

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def build_store(store, orders=120):
    for n in range(orders):
        order = make_order(store, number=str(5000 + n), email=f"s{n}@example.com")
        Shipment.objects.create(
            store=store,
            order=order,
            status="delivered",
            delivered_at=NOW - timedelta(days=20 + n % 30),
        )


def test_seed_writes_reviews_flags_photos_and_a_reply(store):
    build_store(store)

    counts = reviews_seed.seed(store, random.Random(3), NOW)

    assert counts["reviews"] == Review.objects.filter(store=store).count() > 100
    assert counts["held reviews"] == Review.objects.filter(store=store, status="pending").count()
    assert counts["review flags"] == ModerationFlag.objects.filter(store=store).count() > 0
    assert {f.kind for f in ModerationFlag.objects.all()} <= {"email", "link", "phone", "profanity"}
    assert counts["review photos"] == ReviewPhoto.objects.count() > 0
    assert counts["review replies"] == ReviewReply.objects.count() == 1
    assert not Review.objects.filter(created_at__gte=NOW).exists()
    assert set(Review.objects.values_list("verified_buyer", flat=True)) == {True}
    published = Review.objects.filter(store=store, status="published", product__isnull=False)
    summed = sum(
        RatingSummary.objects.filter(product__isnull=False).values_list("count", flat=True)
    )
    assert summed == published.count()


def test_seed_is_deterministic(store, other_store):
    build_store(store, orders=40)
    first = reviews_seed.seed(store, random.Random(9), NOW)
    ratings = list(
        Review.objects.order_by("order__number", "product__handle").values_list("rating", "text")
    )
    Review.objects.all().delete()
    ReviewPhoto.objects.all().delete()
    second = reviews_seed.seed(store, random.Random(9), NOW)
    again = list(
        Review.objects.order_by("order__number", "product__handle").values_list("rating", "text")
    )
    assert first == second and ratings == again


def test_every_highlighted_link_answers(store, client, admin_client):
    build_store(store, orders=60)
    reviews_seed.seed(store, random.Random(3), NOW)
    cache.clear()

    lines = reviews_seed.highlights(store, "http://testserver")

    assert [line.split()[0] + " " + line.split()[1] for line in lines] == [
        "review queue",
        "review widget",
        "reviews API",
        "reviews feed",
        "review page",
    ]
    for line in lines:
        url = next(part for part in line.split() if part.startswith("http://testserver"))
        path = url.removeprefix("http://testserver")
        who = admin_client if path.startswith("/admin/") else client
        assert who.get(path).status_code == 200, line
