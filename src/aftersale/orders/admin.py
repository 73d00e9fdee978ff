from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from aftersale.core.models import OutboxEvent
from aftersale.core.money import format_money
from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.orders.models import Order, OrderLine, Refund, RefundLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["sku", "title", "variant_title", "unit_price", "quantity", "discount", "total"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ["public_id", "amount", "currency", "reason", "processed_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(StoreScopedAdmin):
    list_display = [
        "number",
        "placed_at",
        "customer",
        "total_display",
        "status",
        "financial_status",
        "fulfillment_status",
        "channel",
    ]
    list_filter = ["status", "financial_status", "fulfillment_status", "channel", "source"]
    search_fields = [
        "number",
        "external_id",
        "public_id",
        "email",
        "customer__email",
        "customer__last_name",
    ]
    date_hierarchy = "placed_at"
    list_select_related = ["customer", "store"]
    show_full_result_count = False
    raw_id_fields = ["customer", "shipping_address", "billing_address"]
    readonly_fields = [
        "public_id",
        "created_at",
        "updated_at",
        "shipments_table",
        "event_history",
        "raw_payloads",
    ]
    inlines = [OrderLineInline, RefundInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "store",
                    "public_id",
                    "source",
                    "external_id",
                    "number",
                    "channel",
                    "placed_at",
                ]
            },
        ),
        (
            "Status",
            {
                "fields": [
                    "status",
                    "financial_status",
                    "fulfillment_status",
                    "cancelled_at",
                    "cancel_reason",
                ]
            },
        ),
        ("Customer", {"fields": ["customer", "email", "shipping_address", "billing_address"]}),
        (
            "Money",
            {
                "fields": [
                    "currency",
                    "subtotal",
                    "discount_total",
                    "shipping_total",
                    "tax_total",
                    "total",
                    "discount_codes",
                ]
            },
        ),
        ("Shipments", {"fields": ["shipments_table"]}),
        (
            "History",
            {
                "fields": [
                    "event_history",
                    "raw_payloads",
                    "tags",
                    "note",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    @admin.display(description="Total", ordering="total")
    def total_display(self, order):
        return format_money(order.total, order.currency)

    @admin.display(description="Shipments")
    def shipments_table(self, order):
        # Shipments are a higher layer's model; read through the reverse relation only.
        rows = [
            (
                reverse("admin:tracking_shipment_change", args=[s.pk]),
                s.carrier,
                s.tracking_number,
                s.get_status_display(),
                s.promised_delivery_date or "—",
                s.delivered_at.strftime("%Y-%m-%d %H:%M") if s.delivered_at else "—",
            )
            for s in order.shipments.all()
        ]
        if not rows:
            return "—"
        body = format_html_join(
            "", "<tr><td><a href='{}'>{} {}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
        )
        return format_html(
            "<table><tr><th>parcel</th><th>status</th><th>promised</th><th>delivered</th></tr>"
            "{}</table>",
            body,
        )

    @admin.display(description="Event history")
    def event_history(self, order):
        events = OutboxEvent.objects.filter(
            store_id=order.store_id, aggregate=f"order:{order.public_id}"
        ).order_by("id")
        rows = [
            (
                e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.name,
                ", ".join(e.payload.get("changed", [])) or "—",
                "dispatched" if e.dispatched_at else "pending",
            )
            for e in events
        ]
        if not rows:
            return "—"
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><tr><th>when</th><th>event</th><th>changed</th><th>state</th></tr>{}</table>",
            body,
        )

    @admin.display(description="Raw payloads")
    def raw_payloads(self, order):
        if order.source not in {"shopify", "woocommerce"}:
            return "—"
        ref = f"order:{order.source}:{order.external_id}"
        url = "/admin/integrations/inboundpayload/?" + urlencode({"object_ref": ref})
        return format_html("<a href='{}'>payloads received for this order</a>", url)


class RefundLineInline(admin.TabularInline):
    model = RefundLine
    extra = 0
    fields = ["order_line", "quantity", "amount", "restock"]
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(StoreScopedAdmin):
    list_display = ["public_id", "order", "amount", "currency", "reason", "processed_at"]
    search_fields = ["public_id", "external_id", "order__number"]
    list_select_related = ["order"]
    readonly_fields = ["public_id", "created_at"]
    raw_id_fields = ["order"]
    inlines = [RefundLineInline]
