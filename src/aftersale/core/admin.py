from django.contrib import admin

from aftersale.core.models import (
    ApiKey,
    OutboxEvent,
    Store,
    StoreAlert,
    StoreMember,
    WorkerHeartbeat,
)
from aftersale.core.tenancy import StoreScopedAdmin, stores_for_user


class StoreMemberInline(admin.TabularInline):
    model = StoreMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "time_zone", "default_locale", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["public_id", "created_at"]
    inlines = [StoreMemberInline]

    def get_queryset(self, request):
        return stores_for_user(request.user)


@admin.register(ApiKey)
class ApiKeyAdmin(StoreScopedAdmin):
    list_display = ["name", "store", "scope", "lookup", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope"]
    readonly_fields = ["public_id", "lookup", "created_at", "last_used_at"]
    fields = [
        "store",
        "name",
        "scope",
        "public_id",
        "lookup",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def has_add_permission(self, request):
        # Keys are created with `aftersale apikey create`, which shows the secret once.
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(StoreScopedAdmin):
    list_display = [
        "public_id",
        "name",
        "aggregate",
        "created_at",
        "dispatched_at",
        "attempts",
        "failed_at",
    ]
    list_filter = ["name"]
    search_fields = ["public_id", "aggregate", "name"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StoreAlert)
class StoreAlertAdmin(StoreScopedAdmin):
    list_display = ["created_at", "level", "kind", "subject", "message", "resolved_at"]
    list_filter = ["level", "kind"]
    actions = ["mark_resolved"]

    @admin.action(description="Mark selected alerts resolved")
    def mark_resolved(self, request, queryset):
        from aftersale.core import clock

        queryset.filter(resolved_at__isnull=True).update(resolved_at=clock.now())


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker_id", "hostname", "pid", "started_at", "last_seen_at", "stopped_at"]

    def has_module_permission(self, request):
        return request.user.is_superuser
