"""The moderation desk (/admin/reviews/desk/) and the admin: store-scoped, escaped, and every
action through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from aftersale.core.services import store_member_add
from aftersale.messaging.models import Message
from aftersale.reviews import services
from aftersale.reviews.models import Review, ReviewPhoto, ReviewReply, ReviewSettings
from aftersale.reviews.photos import PhotoUpload
from tests.reviews.conftest import image_bytes, make_order, products_of

pytestmark = pytest.mark.django_db

DESK = "/admin/reviews/desk/"


@pytest.fixture
def staff(client, django_user_model, store):
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    store_member_add(store=store, username="ops")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="reviews"))
    client.force_login(user)
    return client


@pytest.fixture
def outsider(django_user_model, other_store):
    user = django_user_model.objects.create_user(username="brisa", password="pw", is_staff=True)
    store_member_add(store=other_store, username="brisa")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="reviews"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def held(store, order):
    """Two reviews waiting: a flagged 5★ with a photo and a 2★, plus a published 5★ of the shop."""
    mug, socks = products_of(order)
    services.review_request_submit(
        store,
        order=order,
        drafts=[
            services.ReviewDraft(
                mug,
                rating=5,
                title="<script>alert(1)</script>",
                text="mail me at ana@example.com",
                photos=[PhotoUpload("a.jpg", image_bytes())],
            ),
            services.ReviewDraft(socks, rating=2, text="thin"),
            services.ReviewDraft(None, rating=5, text="great shop"),
        ],
    )
    return Review.objects.get(product=mug), Review.objects.get(product=socks)


def test_the_queue_shows_held_reviews_with_their_flags_escaped(staff, held):
    flagged, low = held

    response = staff.get(DESK)

    html = response.content.decode()
    assert response.status_code == 200
    assert flagged.public_id in html and low.public_id in html
    assert "great shop" not in html  # published: not in the queue
    assert "E-mail address: ana@example.com" in html
    assert "Rating below the auto-publish rule" in html
    assert "1 (1 held)" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_bulk_approve_from_the_desk(staff, held):
    flagged, low = held
    response = staff.post(
        DESK + "bulk/", {"action": "approve", "ids": [flagged.public_id, low.public_id]}
    )
    assert response.status_code == 302
    assert set(Review.objects.values_list("status", flat=True)) == {"published"}
    assert ReviewPhoto.objects.get().status == "approved"
    flagged.refresh_from_db()
    assert flagged.moderated_by.username == "ops"


def test_bulk_reject_from_the_admin_action(staff, held):
    flagged, low = held
    response = staff.post(
        "/admin/reviews/review/",
        {"action": "reject", "_selected_action": [flagged.pk, low.pk]},
    )
    assert response.status_code == 302
    assert Review.objects.filter(status="rejected").count() == 2


def test_detail_shows_photos_and_publishes_a_reply_that_tells_the_shopper(staff, held):
    flagged, _ = held
    page = staff.get(f"{DESK}r/{flagged.public_id}/")
    assert page.status_code == 200
    photo = ReviewPhoto.objects.get()
    assert f"{DESK}photo/{photo.public_id}" in page.content.decode()
    held_image = staff.get(f"{DESK}photo/{photo.public_id}")
    assert held_image.status_code == 200 and held_image["Content-Type"] == "image/jpeg"

    refused = staff.post(f"{DESK}r/{flagged.public_id}/", {"action": "reply", "text": "Hi"})
    assert refused.status_code == 422  # not published yet
    assert "publish the review before replying" in refused.content.decode()
    staff.post(f"{DESK}r/{flagged.public_id}/", {"action": "approve"})
    done = staff.post(
        f"{DESK}r/{flagged.public_id}/", {"action": "reply", "text": "Thank you, Ana!"}
    )

    assert done.status_code == 302
    assert ReviewReply.objects.get().text == "Thank you, Ana!"
    assert Message.objects.filter(kind="review_reply", recipient="ana@example.com").count() == 1


def test_another_stores_staff_sees_and_changes_nothing(outsider, held, store):
    flagged, low = held
    desk = outsider.get(DESK).content.decode()
    assert flagged.public_id not in desk and low.public_id not in desk
    assert outsider.get(f"{DESK}r/{flagged.public_id}/").status_code == 404
    assert outsider.get(f"{DESK}photo/{ReviewPhoto.objects.get().public_id}").status_code == 404
    assert outsider.get(DESK, {"store": "acme"}).status_code == 404
    assert outsider.get(f"{DESK}settings/acme/").status_code == 404
    bulk = outsider.post(DESK + "bulk/", {"action": "approve", "ids": [flagged.public_id]})
    assert bulk.status_code == 404
    reply = outsider.post(f"{DESK}r/{flagged.public_id}/", {"action": "reply", "text": "x"})
    assert reply.status_code == 404
    assert outsider.get(f"/admin/reviews/review/{flagged.pk}/change/").status_code == 302
    assert set(Review.objects.values_list("status", flat=True)) == {"pending", "published"}
    assert not ReviewReply.objects.exists()


def test_settings_page_saves_the_rule_words_and_reward(staff, store):
    response = staff.post(
        f"{DESK}settings/acme/",
        {
            "auto_publish": "on",
            "auto_publish_min_rating": "5",
            "extra_flagged_words": "rival shop\n\n  cheapo ",
            "reward_code": "THANKS10",
            "reward_description": "10% off",
        },
    )
    assert response.status_code == 302
    row = ReviewSettings.objects.get(store=store)
    assert row.auto_publish_min_rating == 5
    assert row.extra_flagged_words == ["cheapo", "rival shop"]
    assert row.reward_code == "THANKS10"
    bad = staff.post(f"{DESK}settings/acme/", {"auto_publish_min_rating": "9"})
    assert bad.status_code == 200
    assert ReviewSettings.objects.get(store=store).auto_publish_min_rating == 5


def test_the_admin_list_and_change_pages_escape_review_text(staff, held):
    flagged, _ = held
    listing = staff.get("/admin/reviews/review/").content.decode()
    change = staff.get(f"/admin/reviews/review/{flagged.pk}/change/").content.decode()
    for html in (listing, change):
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_desk_filters_by_rating_and_flags(staff, held, store):
    flagged, low = held
    make_order(store, number="2", email="bo@example.com")
    only_flagged = staff.get(DESK, {"flagged": "yes"}).content.decode()
    assert flagged.public_id in only_flagged and low.public_id not in only_flagged
    two_stars = staff.get(DESK, {"rating": "2"}).content.decode()
    assert low.public_id in two_stars and flagged.public_id not in two_stars


def test_csv_upload_imports_or_lists_every_problem(staff, store, outsider):
    from django.core.files.uploadedfile import SimpleUploadedFile

    good = SimpleUploadedFile("r.csv", b"rating,title,text\n5,Nice,<b>ok</b>\n4,Fine,\n")
    response = staff.post(f"{DESK}import/acme/", {"file": good})
    assert response.status_code == 200
    assert "Imported: 2 new" in response.content.decode()
    assert Review.objects.filter(store=store, source="csv").count() == 2

    bad = SimpleUploadedFile("r.csv", b"rating,text\n9,<script>x</script>\nfive,\n")
    refused = staff.post(f"{DESK}import/acme/", {"file": bad})
    html = refused.content.decode()
    assert refused.status_code == 422
    assert "line 2, rating: &#x27;9&#x27; is not a whole number 1–5" in html
    assert "line 3, rating" in html
    assert Review.objects.filter(store=store).count() == 2
    assert outsider.post(f"{DESK}import/acme/", {"file": good}).status_code == 404
