from django.contrib import admin
from django.db.models import F

from aftersale.core import clock
from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.tracking.models import Shipment, ShipmentLine, TrackingEvent


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
