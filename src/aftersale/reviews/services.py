"""Every write to reviews: the request page's submission, moderation, replies, settings, and the
stored rating aggregates that go with them.

Check, then do: `*_check` functions raise DomainError naming the field and write nothing; the
writes run in one transaction with the rows they change locked in primary-key order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext as _

from aftersale.catalog.models import Product
from aftersale.core import clock
from aftersale.core.events import emit
from aftersale.core.models import Store
from aftersale.core.services import DomainError, NotFound
from aftersale.messaging.services import message_enqueue
from aftersale.orders.models import Order, OrderLine
from aftersale.reviews import moderation
from aftersale.reviews.models import (
    MAX_PHOTOS_PER_REVIEW,
    ModerationFlag,
    RatingSummary,
    Review,
    ReviewPhoto,
    ReviewReply,
    ReviewRevision,
    ReviewSettings,
    private_storage,
)
from aftersale.reviews.photos import CleanPhoto, PhotoError, PhotoUpload, clean_photo

TITLE_MAX = 200
TEXT_MAX = 5000
REPLY_MAX = 5000
AUTHOR_MAX = 100


# -- settings -----------------------------------------------------------------------------------


def settings_for_update(store: Store) -> ReviewSettings:
    found, _ = ReviewSettings.objects.get_or_create(store=store)
    return found


def review_settings_update(store: Store, **changes) -> ReviewSettings:
    allowed = {
        "auto_publish",
        "auto_publish_min_rating",
        "extra_flagged_words",
        "reward_code",
        "reward_description",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError(f"unknown setting {sorted(unknown)[0]}", field=sorted(unknown)[0])
    minimum = changes.get("auto_publish_min_rating")
    if minimum is not None and not 1 <= int(minimum) <= 5:
        raise DomainError("the minimum rating is between 1 and 5", field="auto_publish_min_rating")
    words = changes.get("extra_flagged_words")
    if words is not None:
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DomainError("a list of words", field="extra_flagged_words")
        changes["extra_flagged_words"] = sorted({w.strip() for w in words if w.strip()})
    with transaction.atomic():
        row = settings_for_update(store)
        for key, value in changes.items():
            setattr(row, key, value)
        row.save()
    return row


# -- the stored aggregates --------------------------------------------------------------------


def _summary_change(store: Store, product_id: int | None, review: Review, sign: int) -> None:
    """Add (+1) or remove (-1) one published review from its product's (or the store's) row."""
    row, _ = RatingSummary.objects.get_or_create(store=store, product_id=product_id)
    rating_field = f"count_{review.rating}"
    RatingSummary.objects.filter(pk=row.pk).update(
        count=F("count") + sign,
        rating_sum=F("rating_sum") + sign * review.rating,
        **{rating_field: F(rating_field) + sign},
        with_photos=F("with_photos") + (sign if review.photo_count else 0),
        verified_count=F("verified_count") + (sign if review.verified_buyer else 0),
        version=F("version") + 1,
        updated_at=clock.now(),
    )


def _published(store: Store, review: Review) -> None:
    _summary_change(store, review.product_id, review, +1)


def _unpublished(store: Store, review: Review) -> None:
    _summary_change(store, review.product_id, review, -1)


def _touch(store: Store, product_id: int | None) -> None:
    """A change shown with the reviews but not counted (a reply): new version, fresh caches."""
    RatingSummary.objects.filter(store=store, product_id=product_id).update(
        version=F("version") + 1, updated_at=clock.now()
    )


def rating_summaries_rebuild(store: Store) -> int:
    """Recount every product's (and the store's) published reviews with one grouped query; for
    imports, which write reviews in bulk. Returns how many rows were written."""
    published = Q(status=Review.Status.PUBLISHED)
    grouped = (
        Review.objects.filter(store=store)
        .filter(published)
        .values("product_id")
        .annotate(
            n=Count("id"),
            total=Sum("rating"),
            c1=Count("id", filter=Q(rating=1)),
            c2=Count("id", filter=Q(rating=2)),
            c3=Count("id", filter=Q(rating=3)),
            c4=Count("id", filter=Q(rating=4)),
            c5=Count("id", filter=Q(rating=5)),
            photos=Count("id", filter=Q(photo_count__gt=0)),
            verified=Count("id", filter=Q(verified_buyer=True)),
        )
        .order_by()
    )
    now = clock.now()
    with transaction.atomic():
        old_versions = dict(
            RatingSummary.objects.filter(store=store).values_list("product_id", "version")
        )
        RatingSummary.objects.filter(store=store).delete()
        rows = [
            RatingSummary(
                store=store,
                product_id=g["product_id"],
                count=g["n"],
                rating_sum=g["total"] or 0,
                count_1=g["c1"],
                count_2=g["c2"],
                count_3=g["c3"],
                count_4=g["c4"],
                count_5=g["c5"],
                with_photos=g["photos"],
                verified_count=g["verified"],
                version=old_versions.get(g["product_id"], 0) + 1,
                updated_at=now,
            )
            for g in grouped
        ]
        RatingSummary.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# -- events -----------------------------------------------------------------------------------


def _payload(review: Review) -> dict:
    return {
        "review_id": review.public_id,
        "order_id": review.order.public_id if review.order_id else None,
        "customer_id": review.customer.public_id if review.customer_id else None,
        "product_id": review.product.public_id if review.product_id else None,
        "rating": review.rating,
        "source": review.source,
        "verified_buyer": review.verified_buyer,
        "incentivised": review.incentivised,
        "status": review.status,
    }


def _emit(store: Store, name: str, review: Review, **extra) -> None:
    emit(
        store=store,
        name=name,
        aggregate=f"review:{review.public_id}",
        payload={**_payload(review), **extra},
    )


# -- moderation rule --------------------------------------------------------------------------


def _moderate(store: Store, review: Review, settings_row: ReviewSettings) -> list[ModerationFlag]:
    """Replace the review's flags with what its current wording contains; returns them."""
    findings = moderation.scan(
        title=review.title, text=review.text, extra_words=settings_row.extra_flagged_words
    )
    ModerationFlag.objects.filter(review=review).delete()
    flags = [
        ModerationFlag(store=store, review=review, kind=f.kind, field=f.field, match=f.match[:200])
        for f in findings
    ]
    ModerationFlag.objects.bulk_create(flags)
    return flags


def _auto_publishes(settings_row: ReviewSettings, rating: int, flags: Sequence) -> bool:
    return (
        settings_row.auto_publish and rating >= settings_row.auto_publish_min_rating and not flags
    )


# -- the review request page ------------------------------------------------------------------


@dataclass
class ReviewDraft:
    """One block of the request form: a product of the order (or the store, product None)."""

    product: Product | None
    _: KW_ONLY
    order_line: OrderLine | None = None
    rating: int | str | None = None
    title: str = ""
    text: str = ""
    photos: list[PhotoUpload] = field(default_factory=list)
    key: str = "store"  # the form's name for this block, for error fields ("items.<key>.rating")


@dataclass
class _Checked:
    draft: ReviewDraft
    rating: int
    title: str
    text: str
    photos: list[CleanPhoto]


@dataclass
class SubmitResult:
    reviews: list[Review]
    created: int
    updated: int
    unchanged: int
    reward_code: str = ""
    reward_description: str = ""


def _at_most(n: int) -> str:
    return _("at most %(n)d characters") % {"n": n}


def _parse_rating(value, *, field_name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        rating = int(str(value).strip())
    except ValueError:
        raise DomainError(_("choose from 1 to 5 stars"), field=field_name) from None
    if not 1 <= rating <= 5:
        raise DomainError(_("choose from 1 to 5 stars"), field=field_name)
    return rating


def review_request_check(
    store: Store, *, order: Order, drafts: Sequence[ReviewDraft], author_name: str = ""
) -> list[_Checked]:
    """Validate a submission; raises DomainError (field "items.<key>.<field>") and writes
    nothing. Blocks the shopper left empty are skipped; at least one must carry a rating."""
    if order.store_id != store.pk:
        raise NotFound("order not found")
    if len(author_name) > AUTHOR_MAX:
        raise DomainError(_at_most(AUTHOR_MAX), field="author_name")
    line_products = {line.product_id for line in order.lines.all() if line.product_id}
    existing_photos = dict(
        Review.objects.filter(store=store, order=order, source=Review.Source.REQUEST)
        .annotate(kept=Count("photos", filter=~Q(photos__status=ReviewPhoto.Status.REJECTED)))
        .values_list("product_id", "kept")
    )
    checked: list[_Checked] = []
    for draft in drafts:
        prefix = f"items.{draft.key}"
        if draft.product is not None and draft.product.pk not in line_products:
            raise DomainError(_("this product is not part of the order"), field=f"{prefix}.product")
        rating = _parse_rating(draft.rating, field_name=f"{prefix}.rating")
        title = (draft.title or "").strip()
        text = (draft.text or "").strip()
        if rating is None:
            if title or text or draft.photos:
                raise DomainError(_("choose from 1 to 5 stars"), field=f"{prefix}.rating")
            continue
        if len(title) > TITLE_MAX:
            raise DomainError(_at_most(TITLE_MAX), field=f"{prefix}.title")
        if len(text) > TEXT_MAX:
            raise DomainError(_at_most(TEXT_MAX), field=f"{prefix}.text")
        product_id = draft.product.pk if draft.product else None
        already = existing_photos.get(product_id, 0)
        if already + len(draft.photos) > MAX_PHOTOS_PER_REVIEW:
            raise DomainError(
                _("at most %(n)d photos per review") % {"n": MAX_PHOTOS_PER_REVIEW},
                field=f"{prefix}.photos",
            )
        cleaned = []
        for upload in draft.photos:
            try:
                cleaned.append(clean_photo(upload))
            except PhotoError as exc:
                raise DomainError(f"{upload.name}: {exc}", field=f"{prefix}.photos") from None
        checked.append(_Checked(draft, rating, title, text, cleaned))
    if not checked:
        raise DomainError(_("rate at least one product or the shop"), field="items")
    return checked


def review_request_submit(
    store: Store,
    *,
    order: Order,
    drafts: Sequence[ReviewDraft],
    locale: str = "",
    author_name: str = "",
) -> SubmitResult:
    """Write the shopper's reviews of an order: one per product and one of the store. A second
    submission updates them (the earlier wording kept as a revision), never duplicates."""
    checked = review_request_check(store, order=order, drafts=drafts, author_name=author_name)
    settings_row = ReviewSettings.objects.filter(store=store).first() or ReviewSettings(store=store)
    # A reward depends on writing a review, never on its rating.
    incentivised = settings_row.has_reward
    result = SubmitResult(reviews=[], created=0, updated=0, unchanged=0)
    # Files written by this submission, removed again when its transaction rolls back (Django has
    # no on_rollback hook).
    written: list[str] = []
    try:
        with transaction.atomic():
            _write_submission(
                store, order, checked, settings_row, result, locale, author_name, written
            )
    except BaseException:
        for name in written:
            private_storage.delete(name)
        raise
    if incentivised:
        result.reward_code = settings_row.reward_code
        result.reward_description = settings_row.reward_description
    return result


def _write_submission(
    store, order, checked, settings_row, result, locale, author_name, written
) -> None:
    now = clock.now()
    incentivised = settings_row.has_reward
    # One submission of an order at a time: the second waits and then sees the first's rows.
    Order.objects.select_for_update(of=("self",)).filter(pk=order.pk).first()
    existing = {
        r.product_id: r
        for r in Review.objects.select_for_update(of=("self",))
        .filter(store=store, order=order, source=Review.Source.REQUEST)
        .select_related("order", "customer", "product")
        .order_by("pk")
    }
    for item in checked:
        product = item.draft.product
        review = existing.get(product.pk if product else None)
        if review is not None and item.photos:
            # Counted again under the lock: two submissions at once cannot pass five together.
            kept = review.photos.exclude(status=ReviewPhoto.Status.REJECTED).count()
            if kept + len(item.photos) > MAX_PHOTOS_PER_REVIEW:
                raise DomainError(
                    _("at most %(n)d photos per review") % {"n": MAX_PHOTOS_PER_REVIEW},
                    field=f"items.{item.draft.key}.photos",
                )
        if review is None:
            review = Review.objects.create(
                store=store,
                product=product,
                order=order,
                order_line=item.draft.order_line,
                customer=order.customer,
                author_name=author_name.strip() or _default_author(order),
                rating=item.rating,
                title=item.title,
                text=item.text,
                locale=locale,
                source=Review.Source.REQUEST,
                verified_buyer=True,
                incentivised=incentivised,
                created_at=now,
                updated_at=now,
            )
            created = True
            result.created += 1
        else:
            created = False
            changed = (review.rating, review.title, review.text) != (
                item.rating,
                item.title,
                item.text,
            )
            if not changed and not item.photos:
                result.unchanged += 1
                result.reviews.append(review)
                continue
            was_published = review.status == Review.Status.PUBLISHED
            if changed:
                ReviewRevision.objects.create(
                    store=store,
                    review=review,
                    rating=review.rating,
                    title=review.title,
                    text=review.text,
                    written_at=review.updated_at,
                    replaced_at=now,
                )
                if was_published:
                    _unpublished(store, review)
                review.rating, review.title, review.text = item.rating, item.title, item.text
                review.revision_count += 1
                review.updated_at = now
                review.incentivised = review.incentivised or incentivised
                if locale:
                    review.locale = locale
                if author_name.strip():
                    review.author_name = author_name.strip()
            result.updated += 1
            if not changed:
                # Only photos were added: the wording (and its publication) stays.
                _add_photos(store, review, item.photos, now, written)
                review.save()
                result.reviews.append(review)
                _emit(store, "review.updated", review)
                continue
        _add_photos(store, review, item.photos, now, written)
        was_rejected = not created and review.status == Review.Status.REJECTED
        flags = _moderate(store, review, settings_row)
        # A review staff rejected goes back to them when edited, never straight to the shop.
        if not was_rejected and _auto_publishes(settings_row, review.rating, flags):
            review.status = Review.Status.PUBLISHED
            review.published_at = review.published_at or now
        else:
            review.status = Review.Status.PENDING
        review.save()
        if review.status == Review.Status.PUBLISHED:
            _published(store, review)
        _emit(store, "review.created" if created else "review.updated", review)
        if review.status == Review.Status.PUBLISHED:
            _emit(store, "review.published", review)
        result.reviews.append(review)


def _default_author(order: Order) -> str:
    customer = order.customer
    if customer is None or not customer.first_name:
        return ""
    initial = f" {customer.last_name[:1]}." if customer.last_name else ""
    return f"{customer.first_name}{initial}"


def _add_photos(
    store: Store, review: Review, photos: Iterable[CleanPhoto], now, written: list[str]
) -> int:
    known = set(review.photos.values_list("sha256", flat=True)) if review.pk else set()
    added = 0
    for clean in photos:
        if clean.sha256 in known:
            continue
        known.add(clean.sha256)
        photo = ReviewPhoto(
            store=store,
            review=review,
            content_type=clean.content_type,
            extension=clean.extension,
            width=clean.width,
            height=clean.height,
            size_bytes=len(clean.data),
            sha256=clean.sha256,
            created_at=now,
        )
        photo.image.save(
            f"{photo.public_id}.{clean.extension}", ContentFile(clean.data), save=False
        )
        photo.save()
        written.append(photo.image.name)
        added += 1
    return added


# -- moderation ---------------------------------------------------------------------------------


def _locked_reviews(store: Store, review_ids: Sequence[str]) -> list[Review]:
    reviews = list(
        Review.objects.select_for_update(of=("self",))
        .filter(store=store, public_id__in=list(review_ids))
        .select_related("order", "customer", "product")
        .order_by("pk")
    )
    if len(reviews) != len(set(review_ids)):
        raise NotFound("review not found", field="reviews")
    return reviews


def _refresh_photo_count(review: Review) -> None:
    review.photo_count = review.photos.filter(status=ReviewPhoto.Status.APPROVED).count()


def reviews_approve(store: Store, *, review_ids: Sequence[str], actor=None) -> int:
    """Publish reviews (and their held photos). Returns how many changed."""
    if not review_ids:
        raise DomainError("choose at least one review", field="reviews")
    now = clock.now()
    changed = 0
    with transaction.atomic():
        for review in _locked_reviews(store, review_ids):
            review.photos.filter(status=ReviewPhoto.Status.PENDING).update(
                status=ReviewPhoto.Status.APPROVED
            )
            was_published = review.status == Review.Status.PUBLISHED
            if was_published:
                _unpublished(store, review)
            _refresh_photo_count(review)
            review.status = Review.Status.PUBLISHED
            review.published_at = review.published_at or now
            review.moderated_by = actor if getattr(actor, "pk", None) else None
            review.moderated_at = now
            review.save()
            _published(store, review)
            if not was_published:
                changed += 1
                _emit(store, "review.published", review)
    return changed


def reviews_reject(store: Store, *, review_ids: Sequence[str], actor=None) -> int:
    """Reject reviews: taken off the shop if published, held photos rejected with them."""
    if not review_ids:
        raise DomainError("choose at least one review", field="reviews")
    now = clock.now()
    changed = 0
    with transaction.atomic():
        for review in _locked_reviews(store, review_ids):
            if review.status == Review.Status.REJECTED:
                continue
            if review.status == Review.Status.PUBLISHED:
                _unpublished(store, review)
            review.photos.filter(status=ReviewPhoto.Status.PENDING).update(
                status=ReviewPhoto.Status.REJECTED
            )
            review.status = Review.Status.REJECTED
            review.moderated_by = actor if getattr(actor, "pk", None) else None
            review.moderated_at = now
            review.save()
            changed += 1
            _emit(store, "review.rejected", review)
    return changed


def photo_moderate(store: Store, *, photo_id: str, approve: bool, actor=None) -> ReviewPhoto:
    with transaction.atomic():
        photo = (
            ReviewPhoto.objects.select_for_update(of=("self",))
            .filter(store=store, public_id=photo_id)
            .select_related("review")
            .first()
        )
        if photo is None:
            raise NotFound("photo not found", field="photo")
        review = Review.objects.select_for_update(of=("self",)).get(pk=photo.review_id)
        photo.status = ReviewPhoto.Status.APPROVED if approve else ReviewPhoto.Status.REJECTED
        photo.save(update_fields=["status"])
        if review.status == Review.Status.PUBLISHED:
            _unpublished(store, review)
            _refresh_photo_count(review)
            review.save(update_fields=["photo_count"])
            _published(store, review)
        else:
            _refresh_photo_count(review)
            review.save(update_fields=["photo_count"])
    return photo


# -- replies ------------------------------------------------------------------------------------


def review_reply_check(store: Store, *, review: Review, text: str) -> str:
    if review.store_id != store.pk:
        raise NotFound("review not found", field="review")
    text = (text or "").strip()
    if not text:
        raise DomainError("write a reply", field="text")
    if len(text) > REPLY_MAX:
        raise DomainError(f"at most {REPLY_MAX} characters", field="text")
    if review.status != Review.Status.PUBLISHED:
        raise DomainError("publish the review before replying in public", field="review")
    return text


def review_reply_set(store: Store, *, review: Review, text: str, actor=None) -> ReviewReply:
    """Publish (or change) the merchant's public reply. The first reply tells the shopper by a
    `review_reply` message and emits review.replied; a later edit does neither again."""
    text = review_reply_check(store, review=review, text=text)
    now = clock.now()
    with transaction.atomic():
        review = (
            Review.objects.select_for_update(of=("self",))
            .select_related("order", "customer", "product")
            .get(pk=review.pk)
        )
        reply = ReviewReply.objects.filter(review=review).first()
        first = reply is None
        if first:
            reply = ReviewReply.objects.create(
                store=store,
                review=review,
                text=text,
                author=actor if getattr(actor, "pk", None) else None,
                created_at=now,
                updated_at=now,
            )
        else:
            reply.text = text
            reply.updated_at = now
            reply.save(update_fields=["text", "updated_at"])
        _touch(store, review.product_id)
        if first:
            if review.customer_id or review.order_id:
                message_enqueue(
                    store=store,
                    kind="review_reply",
                    order=review.order,
                    customer=review.customer,
                    context={"review_ref": review.public_id},
                    origin=f"review:{review.public_id}",
                    idempotency_key=f"review_reply:{review.public_id}",
                )
            _emit(store, "review.replied", review, reply_id=reply.public_id)
    return reply


def review_reply_delete(store: Store, *, review: Review) -> int:
    if review.store_id != store.pk:
        raise NotFound("review not found", field="review")
    with transaction.atomic():
        deleted, _ = ReviewReply.objects.filter(store=store, review=review).delete()
        _touch(store, review.product_id)
    return deleted
