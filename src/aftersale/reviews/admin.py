"""Reviews in the Django admin (store-scoped); moderation itself is on the desk
(/admin/reviews/desk/), and every admin action goes through the same services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.reviews import services
from aftersale.reviews.models import (
    ModerationFlag,
    RatingSummary,
    Review,
    ReviewPhoto,
    ReviewReply,
    ReviewRevision,
    ReviewSettings,
)


class FlagInline(admin.TabularInline):
    model = ModerationFlag
    extra = 0
    can_delete = False
    fields = ["kind", "field", "match"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RevisionInline(admin.TabularInline):
    model = ReviewRevision
    extra = 0
    can_delete = False
    fields = ["rating", "title", "text", "written_at", "replaced_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class PhotoInline(admin.TabularInline):
    model = ReviewPhoto
    extra = 0
    can_delete = False
    fields = ["preview", "status", "width", "height", "size_bytes"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Photo")
    def preview(self, obj):
        url = reverse("reviews_backoffice:photo", args=[obj.public_id])
        return format_html('<img src="{}" alt="" style="max-height:80px">', url)


@admin.register(Review)
class ReviewAdmin(StoreScopedAdmin):
    list_display = [
        "created_at",
        "rating",
        "title",
        "product",
        "status",
        "source",
        "verified_buyer",
    ]
    list_filter = ["status", "rating", "source", "verified_buyer", "incentivised"]
    search_fields = ["public_id", "title", "text", "author_name", "external_id"]
    list_select_related = ["product"]
    show_full_result_count = False
    actions = ["approve", "reject"]
    inlines = [FlagInline, PhotoInline, RevisionInline]
    # Shoppers write reviews; staff moderate them. Wording is never edited here.
    readonly_fields = [
        "public_id",
        "store",
        "product",
        "order",
        "order_line",
        "customer",
        "author_name",
        "rating",
        "title",
        "text",
        "locale",
        "status",
        "verified_buyer",
        "incentivised",
        "source",
        "external_id",
        "photo_count",
        "revision_count",
        "moderated_by",
        "moderated_at",
        "created_at",
        "updated_at",
        "published_at",
        "desk_link",
    ]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Moderation desk")
    def desk_link(self, obj):
        url = reverse("reviews_backoffice:detail", args=[obj.public_id])
        return format_html('<a href="{}">Moderate, see photos, reply</a>', url)

    def _moderate(self, request, queryset, fn, verb):
        changed = 0
        by_store: dict = {}
        for review in queryset.select_related("store").order_by("pk"):
            by_store.setdefault(review.store_id, (review.store, []))[1].append(review.public_id)
        for store, refs in by_store.values():
            changed += fn(store, review_ids=refs, actor=request.user)
        self.message_user(request, f"{verb} {changed} review(s).", messages.SUCCESS)

    @admin.action(description="Publish selected reviews (and their photos)")
    def approve(self, request, queryset):
        self._moderate(request, queryset, services.reviews_approve, "Published")

    @admin.action(description="Reject selected reviews")
    def reject(self, request, queryset):
        self._moderate(request, queryset, services.reviews_reject, "Rejected")


@admin.register(ReviewReply)
class ReviewReplyAdmin(StoreScopedAdmin):
    list_display = ["created_at", "review", "text"]
    readonly_fields = ["public_id", "store", "review", "text", "author", "created_at", "updated_at"]
    search_fields = ["text", "review__public_id"]

    def has_add_permission(self, request):
        return False


@admin.register(ReviewSettings)
class ReviewSettingsAdmin(StoreScopedAdmin):
    list_display = ["store", "auto_publish", "auto_publish_min_rating", "reward_code"]


@admin.register(RatingSummary)
class RatingSummaryAdmin(StoreScopedAdmin):
    list_display = ["product", "count", "average", "with_photos", "verified_count", "updated_at"]
    list_select_related = ["product"]
    readonly_fields = [f.name for f in RatingSummary._meta.fields]

    def has_add_permission(self, request):
        return False
