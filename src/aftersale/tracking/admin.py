from django.contrib import admin
from django.db.models import F

from aftersale.core import clock
from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.tracking.models import ProblemReport, Shipment, ShipmentLine, TrackingEvent


class LateFilter(admin.SimpleListFilter):
    title = "delivery vs promise"
    parameter_name = "late"

    def lookups(self, request, model_admin):
        return [
            ("late", "Delivered late"),
            ("overdue", "Overdue, not delivered"),
            ("on_time", "Delivered on time"),
        ]

    def queryset(self, request, queryset):
        today = clock.now().date()
        if self.value() == "late":
            return queryset.filter(delivered_at__date__gt=F("promised_delivery_date"))
        if self.value() == "overdue":
            return queryset.filter(delivered_at__isnull=True, promised_delivery_date__lt=today)
        if self.value() == "on_time":
            return queryset.filter(delivered_at__date__lte=F("promised_delivery_date"))
        return queryset


class TrackingEventInline(admin.TabularInline):
    model = TrackingEvent
    extra = 0
    fields = ["occurred_at", "status", "raw_status", "raw_text", "location", "source"]
    readonly_fields = fields
    can_delete = False
    ordering = ["occurred_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


class ShipmentLineInline(admin.TabularInline):
    model = ShipmentLine
    extra = 0
    fields = ["order_line", "quantity"]
    readonly_fields = fields


@admin.register(Shipment)
class ShipmentAdmin(StoreScopedAdmin):
    list_display = [
        "tracking_number",
        "carrier",
        "order",
        "status",
        "shipped_at",
        "promised_delivery_date",
        "delivered_at",
    ]
    list_filter = [LateFilter, "status", "carrier"]
    search_fields = ["tracking_number", "public_id", "external_id", "order__number", "order__email"]
    list_select_related = ["order"]
    show_full_result_count = False
    raw_id_fields = ["order"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    inlines = [ShipmentLineInline, TrackingEventInline]
    date_hierarchy = "shipped_at"


@admin.register(ProblemReport)
class ProblemReportAdmin(StoreScopedAdmin):
    """Shoppers' reports from the tracking page; staff read them and mark them resolved."""

    list_display = ["created_at", "kind", "order", "shipment", "status", "short_message"]
    list_filter = ["status", "kind"]
    search_fields = ["public_id", "order__number", "order__email", "message"]
    list_select_related = ["order", "shipment"]
    raw_id_fields = ["order", "shipment"]
    readonly_fields = ["public_id", "store", "order", "shipment", "kind", "message", "created_at"]
    fields = [*readonly_fields[:-1], "status", "resolved_at", "created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["mark_resolved"]

    def has_add_permission(self, request):
        return False  # reports come from shoppers

    @admin.display(description="message")
    def short_message(self, obj: ProblemReport) -> str:
        return obj.message[:80] + ("…" if len(obj.message) > 80 else "")

    @admin.action(description="Mark selected reports as resolved")
    def mark_resolved(self, request, queryset):
        done = queryset.filter(status=ProblemReport.Status.OPEN).update(
            status=ProblemReport.Status.RESOLVED, resolved_at=clock.now()
        )
        self.message_user(request, f"{done} report(s) marked resolved.")
