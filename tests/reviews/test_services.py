"""Writing, editing, moderating and replying to reviews through the services."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from aftersale.core.models import OutboxEvent
from aftersale.core.services import DomainError, NotFound
from aftersale.messaging.models import Message
from aftersale.reviews import selectors, services
from aftersale.reviews.models import (
    ModerationFlag,
    RatingSummary,
    Review,
    ReviewPhoto,
    ReviewReply,
    ReviewRevision,
)
from aftersale.reviews.photos import PhotoUpload
from tests.reviews.conftest import image_bytes, make_order, products_of

pytestmark = pytest.mark.django_db


def draft(product, rating, title="", text="", photos=(), key=None):
    return services.ReviewDraft(
        product=product,
        rating=rating,
        title=title,
        text=text,
        photos=list(photos),
        key=key or (product.public_id if product else "store"),
    )


def private_files() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT).parent / "private"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_submission_writes_one_verified_review_per_product_and_one_of_the_store(store, order):
    mug, socks = products_of(order)

    result = services.review_request_submit(
        store,
        order=order,
        drafts=[
            draft(mug, 5, "Keeps coffee hot", "Hot for three hours."),
            draft(socks, None),  # left empty: skipped
            draft(None, 4, text="Fast delivery."),
        ],
        locale="en",
    )

    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    mug_review = Review.objects.get(store=store, product=mug)
    shop_review = Review.objects.get(store=store, product=None)
    assert mug_review.verified_buyer is True and shop_review.verified_buyer is True
    assert mug_review.source == "request"
    assert mug_review.order == order and mug_review.customer == order.customer
    assert mug_review.author_name == "Ana S."
    assert mug_review.status == "published" and mug_review.published_at is not None
    assert not Review.objects.filter(product=socks).exists()
    summary = RatingSummary.objects.get(store=store, product=mug)
    assert (summary.count, summary.rating_sum, summary.count_5, summary.verified_count) == (
        1,
        5,
        1,
        1,
    )
    assert RatingSummary.objects.get(store=store, product=None).count_4 == 1
    names = list(OutboxEvent.objects.filter(store=store).values_list("name", flat=True))
    assert names.count("review.created") == 2 and names.count("review.published") == 2
    payload = OutboxEvent.objects.filter(name="review.created").first().payload
    assert payload["order_id"] == order.public_id
    assert payload["customer_id"] == order.customer.public_id


def test_the_same_form_sent_twice_keeps_one_review_per_product(store, order):
    mug, _ = products_of(order)
    drafts = [draft(mug, 5, "Keeps coffee hot")]

    services.review_request_submit(store, order=order, drafts=drafts)
    again = services.review_request_submit(store, order=order, drafts=drafts)

    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert Review.objects.filter(store=store, product=mug).count() == 1
    assert ReviewRevision.objects.count() == 0
    assert RatingSummary.objects.get(product=mug).count == 1
    assert OutboxEvent.objects.filter(name="review.created").count() == 1


def test_an_edit_keeps_the_earlier_rating_as_a_revision(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, "Great", "Love it")])

    services.review_request_submit(
        store, order=order, drafts=[draft(mug, 2, "Cracked", "Cracked after a week.")]
    )

    review = Review.objects.get(product=mug)
    assert (review.rating, review.title, review.text) == (2, "Cracked", "Cracked after a week.")
    assert review.revision_count == 1
    revision = review.revisions.get()
    assert (revision.rating, revision.title, revision.text) == (5, "Great", "Love it")
    # 2 stars is below the auto-publish rule: off the shop, out of the counts, in the queue
    assert review.status == "pending"
    summary = RatingSummary.objects.get(product=mug)
    assert (summary.count, summary.rating_sum, summary.count_5, summary.count_2) == (0, 0, 0, 0)
    assert OutboxEvent.objects.filter(name="review.updated").count() == 1


def test_low_ratings_and_flagged_words_wait_for_moderation_with_the_reason(store, order):
    mug, socks = products_of(order)

    services.review_request_submit(
        store,
        order=order,
        drafts=[
            draft(mug, 5, "Great", "Write me at ana@example.com or visit www.cheap-mugs.biz"),
            draft(socks, 5, "Scheiße", "Die Socken sind Mist"),
            draft(None, 3, text="ok"),
        ],
    )

    mug_review = Review.objects.get(product=mug)
    assert mug_review.status == "pending"
    assert sorted(mug_review.flags.values_list("kind", "field", "match")) == [
        ("email", "text", "ana@example.com"),
        ("link", "text", "www.cheap-mugs.biz"),
    ]
    socks_review = Review.objects.get(product=socks)
    assert sorted(socks_review.flags.values_list("kind", "match")) == [
        ("profanity", "Mist"),
        ("profanity", "Scheiße"),
    ]
    shop = Review.objects.get(product=None)
    assert shop.status == "pending" and not shop.flags.exists()
    assert list(selectors.moderation_queue(store)) == [mug_review, socks_review, shop]
    assert not RatingSummary.objects.filter(store=store, count__gt=0).exists()
    assert not OutboxEvent.objects.filter(name="review.published").exists()


def test_store_words_and_rule_apply(store, order):
    mug, socks = products_of(order)
    services.review_settings_update(
        store, extra_flagged_words=["Competitor GmbH"], auto_publish_min_rating=3
    )

    services.review_request_submit(
        store,
        order=order,
        drafts=[draft(mug, 5, text="Better than competitor  gmbh"), draft(socks, 3, text="fine")],
    )

    assert Review.objects.get(product=mug).flags.get().match == "competitor  gmbh"
    assert Review.objects.get(product=socks).status == "published"
    with pytest.raises(DomainError) as exc:
        services.review_settings_update(store, auto_publish_min_rating=6)
    assert exc.value.field == "auto_publish_min_rating"


@pytest.mark.parametrize("rating", [1, 5])
def test_a_reward_never_depends_on_the_rating(store, order, rating):
    mug, _ = products_of(order)
    services.review_settings_update(
        store, reward_code="THANKS10", reward_description="10% off your next order"
    )

    result = services.review_request_submit(store, order=order, drafts=[draft(mug, rating)])

    assert result.reward_code == "THANKS10"
    assert result.reward_description == "10% off your next order"
    assert Review.objects.get(product=mug).incentivised is True


def test_without_a_reward_nothing_is_incentivised(store, order):
    mug, _ = products_of(order)
    result = services.review_request_submit(store, order=order, drafts=[draft(mug, 5)])
    assert result.reward_code == ""
    assert Review.objects.get(product=mug).incentivised is False


@pytest.mark.parametrize(
    ("drafts_of", "field"),
    [
        (lambda mug, socks: [draft(mug, 6)], "items.{mug}.rating"),
        (lambda mug, socks: [draft(mug, 0)], "items.{mug}.rating"),
        (lambda mug, socks: [draft(mug, "five")], "items.{mug}.rating"),
        (lambda mug, socks: [draft(mug, None, text="no stars")], "items.{mug}.rating"),
        (lambda mug, socks: [draft(mug, 5, title="x" * 201)], "items.{mug}.title"),
        (lambda mug, socks: [draft(socks, None), draft(None, None)], "items"),
        (lambda mug, socks: [draft(mug, 5), draft(socks, 9)], "items.{socks}.rating"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(store, order, drafts_of, field):
    mug, socks = products_of(order)

    with pytest.raises(DomainError) as exc:
        services.review_request_submit(store, order=order, drafts=drafts_of(mug, socks))

    assert exc.value.field == field.format(mug=mug.public_id, socks=socks.public_id)
    assert not Review.objects.exists()
    assert not OutboxEvent.objects.filter(name__startswith="review.").exists()


def test_a_product_of_another_order_is_refused(store, order):
    other = make_order(store, number="2002", email="bo@example.com")
    from aftersale.catalog.models import Product

    stranger = Product.objects.create(store=store, title="Not bought")
    with pytest.raises(DomainError) as exc:
        services.review_request_submit(store, order=other, drafts=[draft(stranger, 5)])
    assert exc.value.field == f"items.{stranger.public_id}.product"
    with pytest.raises(NotFound):
        services.review_request_submit(
            store.__class__.objects.create(slug="x", name="X"), order=order, drafts=[]
        )
    assert not Review.objects.exists()


def test_photos_are_cleaned_held_and_limited_to_five(store, order):
    mug, _ = products_of(order)
    uploads = [PhotoUpload(f"p{i}.png", image_bytes("PNG", color=(i, 0, 0))) for i in range(3)]

    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, photos=uploads)])

    review = Review.objects.get(product=mug)
    photos = list(review.photos.all())
    assert [p.status for p in photos] == ["pending"] * 3
    assert [(p.content_type, p.width, p.height) for p in photos] == [("image/jpeg", 64, 48)] * 3
    assert review.photo_count == 0  # none approved yet
    assert len(private_files()) == 3
    # the same file again is the same photo; three more would make six
    more = [PhotoUpload(f"q{i}.jpg", image_bytes(color=(0, i, 0))) for i in range(3)]
    with pytest.raises(DomainError) as exc:
        services.review_request_submit(store, order=order, drafts=[draft(mug, 5, photos=more)])
    assert exc.value.field == f"items.{mug.public_id}.photos"
    assert review.photos.count() == 3 and len(private_files()) == 3


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (PhotoUpload("notes.jpg", b"just text, not an image"), "not a readable image"),
        (PhotoUpload("anim.gif", image_bytes("GIF")), "not a JPEG, PNG or WebP image"),
        (PhotoUpload("empty.jpg", b""), "the file is empty"),
    ],
)
def test_non_images_are_refused(store, order, upload, message):
    mug, _ = products_of(order)
    with pytest.raises(DomainError) as exc:
        services.review_request_submit(store, order=order, drafts=[draft(mug, 5, photos=[upload])])
    assert message in exc.value.message
    assert not Review.objects.exists() and private_files() == []


def test_oversized_photos_are_refused(store, order, settings):
    settings.AFTERSALE_REVIEW_PHOTO_MAX_BYTES = 1000
    mug, _ = products_of(order)
    big = PhotoUpload("big.jpg", image_bytes(size=(400, 400)) + b"\0" * 1000)
    with pytest.raises(DomainError) as exc:
        services.review_request_submit(store, order=order, drafts=[draft(mug, 5, photos=[big])])
    assert "larger than" in exc.value.message
    assert not Review.objects.exists() and private_files() == []


def test_a_failed_write_leaves_no_photo_files(store, order, monkeypatch):
    mug, _ = products_of(order)

    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_moderate", boom)
    with pytest.raises(RuntimeError):
        services.review_request_submit(
            store,
            order=order,
            drafts=[draft(mug, 5, photos=[PhotoUpload("a.jpg", image_bytes())])],
        )
    assert not Review.objects.exists() and not ReviewPhoto.objects.exists()
    assert private_files() == []


def test_bulk_approve_publishes_reviews_and_their_photos(store, order, admin_user):
    mug, socks = products_of(order)
    services.review_request_submit(
        store,
        order=order,
        drafts=[
            draft(mug, 2, photos=[PhotoUpload("a.jpg", image_bytes())]),
            draft(socks, 1),
        ],
    )
    ids = list(Review.objects.values_list("public_id", flat=True))

    changed = services.reviews_approve(store, review_ids=ids, actor=admin_user)

    assert changed == 2
    mug_review = Review.objects.get(product=mug)
    assert mug_review.status == "published" and mug_review.moderated_by == admin_user
    assert mug_review.photo_count == 1
    assert mug_review.photos.get().status == "approved"
    summary = RatingSummary.objects.get(product=mug)
    assert (summary.count, summary.with_photos, summary.count_2) == (1, 1, 1)
    assert OutboxEvent.objects.filter(name="review.published").count() == 2
    # approving again changes nothing and counts nothing twice
    assert services.reviews_approve(store, review_ids=ids) == 0
    assert RatingSummary.objects.get(product=mug).count == 1


def test_reject_takes_a_published_review_off_and_rejects_its_held_photos(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(
        store, order=order, drafts=[draft(mug, 5, photos=[PhotoUpload("a.jpg", image_bytes())])]
    )
    review = Review.objects.get(product=mug)
    assert review.status == "published"

    services.reviews_reject(store, review_ids=[review.public_id])

    review.refresh_from_db()
    assert review.status == "rejected"
    assert review.photos.get().status == "rejected"
    assert RatingSummary.objects.get(product=mug).count == 0


def test_moderation_of_another_stores_review_is_404_and_changes_nothing(store, other_store, order):
    mug, _ = products_of(order)
    services.review_request_submit(store, order=order, drafts=[draft(mug, 1)])
    review = Review.objects.get()

    with pytest.raises(NotFound):
        services.reviews_approve(other_store, review_ids=[review.public_id])
    with pytest.raises(NotFound):
        services.reviews_reject(other_store, review_ids=[review.public_id, "rev_nope"])

    review.refresh_from_db()
    assert review.status == "pending"


def test_photo_moderation_updates_the_with_photos_count(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(
        store, order=order, drafts=[draft(mug, 5, photos=[PhotoUpload("a.jpg", image_bytes())])]
    )
    photo = ReviewPhoto.objects.get()

    services.photo_moderate(store, photo_id=photo.public_id, approve=True)
    assert Review.objects.get().photo_count == 1
    assert RatingSummary.objects.get(product=mug).with_photos == 1

    services.photo_moderate(store, photo_id=photo.public_id, approve=False)
    assert Review.objects.get().photo_count == 0
    assert RatingSummary.objects.get(product=mug).with_photos == 0


def test_a_reply_tells_the_shopper_once(store, order, admin_user):
    mug, _ = products_of(order)
    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, "Nice")])
    review = Review.objects.get()
    version = RatingSummary.objects.get(product=mug).version

    services.review_reply_set(store, review=review, text="Thank you, Ana!", actor=admin_user)
    services.review_reply_set(store, review=review, text="Thank you so much, Ana!")

    reply = ReviewReply.objects.get()
    assert reply.text == "Thank you so much, Ana!" and reply.author == admin_user
    message = Message.objects.get(kind="review_reply")
    assert message.recipient == "ana@example.com" and message.order == order
    assert message.context == {"review_ref": review.public_id}
    assert OutboxEvent.objects.filter(name="review.replied").count() == 1
    assert RatingSummary.objects.get(product=mug).version == version + 2


def test_a_reply_needs_text_and_a_published_review(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(store, order=order, drafts=[draft(mug, 1)])
    review = Review.objects.get()
    with pytest.raises(DomainError) as exc:
        services.review_reply_set(store, review=review, text="Sorry")
    assert exc.value.field == "review"
    services.reviews_approve(store, review_ids=[review.public_id])
    with pytest.raises(DomainError) as exc:
        services.review_reply_set(store, review=review, text="   ")
    assert exc.value.field == "text"
    assert not ReviewReply.objects.exists() and not Message.objects.exists()


def test_rebuild_matches_the_running_counts(store, order):
    mug, socks = products_of(order)
    services.review_request_submit(
        store, order=order, drafts=[draft(mug, 5), draft(socks, 4), draft(None, 1)]
    )
    services.reviews_approve(store, review_ids=[Review.objects.get(product=None).public_id])
    before = {
        r.product_id: (r.count, r.rating_sum, r.distribution)
        for r in RatingSummary.objects.filter(store=store)
    }

    services.rating_summaries_rebuild(store)

    after = {
        r.product_id: (r.count, r.rating_sum, r.distribution)
        for r in RatingSummary.objects.filter(store=store)
    }
    assert after == before
    assert after[None] == (1, 1, {5: 0, 4: 0, 3: 0, 2: 0, 1: 1})


def test_journey_field_and_triggers(store, order):
    from types import SimpleNamespace

    mug, _ = products_of(order)
    facts = SimpleNamespace(store=store, customer=order.customer, order=None, cache={})
    assert selectors.JOURNEY_FIELDS["customer.has_left_review"](facts) is False

    services.review_request_submit(store, order=order, drafts=[draft(mug, 1)])

    fresh = SimpleNamespace(store=store, customer=order.customer, order=order, cache={})
    assert selectors.JOURNEY_FIELDS["customer.has_left_review"](fresh) is True
    assert selectors.JOURNEY_FIELDS["order.has_review"](fresh) is True
    assert set(selectors.JOURNEY_TRIGGERS) == {
        "review.created",
        "review.published",
        "review.replied",
    }


def test_flags_are_replaced_when_the_wording_changes(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, text="shit mug")])
    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, text="good mug")])
    review = Review.objects.get()
    assert not ModerationFlag.objects.filter(review=review).exists()
    assert review.status == "published"


def test_an_edit_of_a_rejected_review_goes_back_to_the_moderator(store, order):
    mug, _ = products_of(order)
    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, "Fake?")])
    review = Review.objects.get()
    services.reviews_reject(store, review_ids=[review.public_id])

    services.review_request_submit(store, order=order, drafts=[draft(mug, 5, "Really great")])

    review.refresh_from_db()
    assert review.status == "pending" and review.title == "Really great"
    assert RatingSummary.objects.get(product=mug).count == 0
