from django.contrib import admin, messages

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from aftersale.webhooks.services import delivery_replay, endpoint_enable


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(StoreScopedAdmin):
    list_display = [
        "url",
        "store",
        "event_types",
        "active",
        "failure_streak",
        "disabled_at",
        "disabled_reason",
    ]
    list_filter = ["active"]
    search_fields = ["url", "public_id", "description"]
    readonly_fields = [
        "public_id",
        "secret",
        "failure_streak",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    ]
    actions = ["enable"]

    @admin.action(description="Enable and send what waited")
    def enable(self, request, queryset):
        queued = sum(endpoint_enable(store=e.store, endpoint=e) for e in queryset)
        self.message_user(
            request, f"Enabled; {queued} waiting deliveries queued.", messages.SUCCESS
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ["attempted_at", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(StoreScopedAdmin):
    list_display = [
        "public_id",
        "event_name",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "replay_of",
    ]
    list_filter = ["status", "endpoint", "event__name"]
    search_fields = ["public_id", "event__public_id", "event__aggregate"]
    list_select_related = ["event", "endpoint", "replay_of"]
    readonly_fields = [
        "public_id",
        "store",
        "endpoint",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "claimed_at",
        "replay_of",
        "created_at",
        "finished_at",
    ]
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    @admin.display(description="event", ordering="event__name")
    def event_name(self, delivery):
        return delivery.event.name

    def has_add_permission(self, request):
        return False

    @admin.action(description="Replay: send the selected deliveries again")
    def replay(self, request, queryset):
        for delivery in queryset.select_related("endpoint", "event", "store"):
            delivery_replay(store=delivery.store, delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.", messages.SUCCESS)
