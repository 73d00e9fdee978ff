"""Product and store reviews: what shoppers wrote, how it was moderated, what the merchant replied.

A Review is about one product (`product` set) or about the store overall (`product` null). Only
reviews written through our own order-linked request page are "verified buyer"; imported ones
(CSV, Olist, API) never are. Every shopper edit keeps the previous rating, title and text as a
ReviewRevision, so a rating is never changed silently. Published aggregates per product (and for
the store overall) are kept in RatingSummary, updated by the services in the same transaction as
the change, so the public API and widget read one row instead of counting thousands.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property

from aftersale.catalog.models import Product
from aftersale.core import clock
from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order, OrderLine

MAX_PHOTOS_PER_REVIEW = 5


@deconstructible
class PrivateReviewStorage(FileSystemStorage):
    """Review photos live outside MEDIA_ROOT's public URL space: no base_url, so nothing serves
    them but our signed-URL view. Location: AFTERSALE_PRIVATE_MEDIA_ROOT, else <MEDIA_ROOT>/../
    private (follows MEDIA_ROOT when tests override it)."""

    def __init__(self) -> None:
        super().__init__()

    @cached_property
    def base_location(self) -> str:
        configured = getattr(settings, "AFTERSALE_PRIVATE_MEDIA_ROOT", "")
        root = Path(configured) if configured else Path(settings.MEDIA_ROOT).parent / "private"
        return str(root)

    @cached_property
    def base_url(self) -> None:  # type: ignore[override]
        return None

    def url(self, name):
        raise ValueError("review photos are private: use reviews.selectors.photo_url()")


private_storage = PrivateReviewStorage()


def _photo_path(instance: ReviewPhoto, filename: str) -> str:
    return f"reviews/{instance.store_id}/{instance.public_id}.{instance.extension}"


class ReviewSettings(models.Model):
    """A store's moderation and request settings (one row per store, made on first use)."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="review_settings")
    # Auto-publish: a review is published at once when its rating is at least this and nothing
    # was flagged; everything else waits in the moderation queue.
    auto_publish = models.BooleanField(default=True)
    auto_publish_min_rating = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    # Store additions to the built-in flagged-word lists (en / pt / de), one word or phrase each.
    extra_flagged_words = models.JSONField(default=list, blank=True)
    # A reward for writing a review (a coupon code shown and sent after submission). Every review
    # written while a reward is configured is marked "incentivised"; the rating never matters.
    reward_code = models.CharField(max_length=100, blank=True, default="")
    reward_description = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "review settings"
        verbose_name_plural = "review settings"

    def __str__(self) -> str:
        return f"Review settings of {self.store}"

    @property
    def has_reward(self) -> bool:
        return bool(self.reward_code.strip())


class Review(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"

    class Source(models.TextChoices):
        REQUEST = "request", "Review request page"
        CSV = "csv", "CSV import"
        OLIST = "olist", "Olist import"
        API = "api", "API"

    public_id = PublicIdField("rev")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="reviews")
    # Null: a review of the store overall.
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="reviews"
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews"
    )
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews"
    )
    # The name shown publicly ("Maria S."), chosen when the review is written or imported.
    author_name = models.CharField(max_length=100, blank=True, default="")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, default="")
    locale = models.CharField(max_length=10, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # True only for reviews written through our own order-linked request page.
    verified_buyer = models.BooleanField(default=False)
    # True when a reward was offered for writing it (never depending on the rating).
    incentivised = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=100, null=True, blank=True)
    # Published photos, kept here so "with photos" sorts on an indexed column.
    photo_count = models.PositiveSmallIntegerField(default=0)
    # How many times the shopper changed it (each change is a ReviewRevision).
    revision_count = models.PositiveIntegerField(default=0)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="review_rating_range"
            ),
            models.UniqueConstraint(
                fields=["store", "source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="review_external_unique",
            ),
            # The request page writes one review per product of an order and one of the store:
            # a second submission updates (with a revision), never duplicates.
            models.UniqueConstraint(
                fields=["store", "order", "product"],
                condition=Q(source="request", product__isnull=False),
                name="review_request_product_unique",
            ),
            models.UniqueConstraint(
                fields=["store", "order"],
                condition=Q(source="request", product__isnull=True),
                name="review_request_store_unique",
            ),
        ]
        indexes = [
            # Public listings: one product's published reviews, newest / highest / lowest first.
            models.Index(
                fields=["product", "status", "-published_at", "-id"], name="review_newest_idx"
            ),
            models.Index(
                fields=["product", "status", "-rating", "-published_at", "-id"],
                name="review_rating_idx",
            ),
            models.Index(
                fields=["product", "status", "rating", "-published_at", "-id"],
                name="review_lowest_idx",
            ),
            models.Index(
                fields=["product", "status", "-photo_count", "-published_at", "-id"],
                name="review_photos_idx",
            ),
            # The moderation queue and store-wide reports.
            models.Index(fields=["store", "status", "created_at"], name="review_queue_idx"),
            models.Index(fields=["store", "order"], name="review_order_idx"),
            models.Index(fields=["store", "customer"], name="review_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title or self.text[:40]}"

    @property
    def is_store_review(self) -> bool:
        return self.product_id is None


class ReviewRevision(models.Model):
    """What a review said before the shopper changed it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="revisions")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, default="")
    # When this wording was written and when it was replaced.
    written_at = models.DateTimeField()
    replaced_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["review_id", "-replaced_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rating}★ until {self.replaced_at:%Y-%m-%d %H:%M}"


class ReviewPhoto(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Held for moderation"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    public_id = PublicIdField("rph")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to=_photo_path, storage=private_storage, max_length=300)
    content_type = models.CharField(max_length=40)  # image/jpeg, image/png, image/webp
    extension = models.CharField(max_length=5)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["review_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "sha256"], name="review_photo_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.width}×{self.height})"


class ReviewReply(models.Model):
    """The merchant's public answer to a review; the shopper is told by a message."""

    public_id = PublicIdField("rrp")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="reply")
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "review replies"

    def __str__(self) -> str:
        return self.text[:60]


class ModerationFlag(models.Model):
    class Kind(models.TextChoices):
        PROFANITY = "profanity", "Profanity"
        EMAIL = "email", "E-mail address"
        PHONE = "phone", "Phone number"
        LINK = "link", "Link"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    field = models.CharField(max_length=10)  # "title" or "text"
    match = models.CharField(max_length=200)  # what was found, as written
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["review_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.match}"


class RatingSummary(models.Model):
    """Published reviews of one product (or of the store overall, product null), counted.

    Kept by the services in the same transaction as every publish, unpublish and edit; `version`
    grows with each change, so caches key on it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    count_1 = models.PositiveIntegerField(default=0)
    count_2 = models.PositiveIntegerField(default=0)
    count_3 = models.PositiveIntegerField(default=0)
    count_4 = models.PositiveIntegerField(default=0)
    count_5 = models.PositiveIntegerField(default=0)
    with_photos = models.PositiveIntegerField(default=0)
    verified_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "rating summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["store", "product"],
                condition=Q(product__isnull=False),
                name="rating_summary_product_unique",
            ),
            models.UniqueConstraint(
                fields=["store"],
                condition=Q(product__isnull=True),
                name="rating_summary_store_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.average or '–'} ({self.count})"

    @property
    def average(self) -> float | None:
        # A display value (one decimal), not money: float is fine here.
        return round(self.rating_sum / self.count, 2) if self.count else None

    @property
    def distribution(self) -> dict[int, int]:
        return {n: getattr(self, f"count_{n}") for n in (5, 4, 3, 2, 1)}
