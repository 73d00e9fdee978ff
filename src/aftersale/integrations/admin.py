from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.integrations.models import InboundPayload
from aftersale.integrations.services import inbound_replay


@admin.register(InboundPayload)
class InboundPayloadAdmin(StoreScopedAdmin):
    list_display = [
        "received_at",
        "store",
        "platform",
        "topic",
        "status",
        "object_ref",
        "attempts",
        "delivery_id",
    ]
    list_filter = ["platform", "topic", "status"]
    search_fields = ["delivery_id", "external_id", "object_ref"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    fields = [
        "public_id",
        "store",
        "platform",
        "topic",
        "status",
        "attempts",
        "last_error",
        "delivery_id",
        "external_id",
        "object_ref",
        "received_at",
        "processed_at",
        "headers_pretty",
        "body_pretty",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # payloads come from the shops, never by hand

    @admin.display(description="headers")
    def headers_pretty(self, obj: InboundPayload) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="body")
    def body_pretty(self, obj: InboundPayload) -> str:
        try:
            pretty = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = obj.body
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', pretty)

    @admin.action(description="Replay: process the selected payloads again", permissions=["change"])
    def replay(self, request, queryset):
        count = inbound_replay(payloads=queryset)
        self.message_user(
            request, f"{count} payload(s) queued to be processed again.", messages.SUCCESS
        )
