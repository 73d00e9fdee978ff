from django.contrib import admin

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.customers.models import Address, Customer


class AddressInline(admin.TabularInline):
    model = Address
    extra = 0
    fields = ["name", "line1", "postal_code", "city", "region", "country", "phone"]


@admin.register(Customer)
class CustomerAdmin(StoreScopedAdmin):
    list_display = ["__str__", "email", "phone", "locale", "accepts_marketing", "created_at"]
    list_filter = ["accepts_marketing", "locale", "source"]
    search_fields = ["email", "first_name", "last_name", "phone", "public_id", "external_id"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    list_select_related = ["store"]
    show_full_result_count = False
    inlines = [AddressInline]
    fieldsets = [
        (None, {"fields": ["store", "public_id", "source", "external_id"]}),
        (
            "Contact",
            {
                "fields": [
                    "first_name",
                    "last_name",
                    "email",
                    "phone",
                    "locale",
                    "time_zone",
                    "birthday",
                    "tags",
                ]
            },
        ),
        (
            "Consent",
            {"fields": ["accepts_marketing", "marketing_consent_at", "marketing_consent_source"]},
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
