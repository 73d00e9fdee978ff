"""Admin for returns: reasons, rules (edited in the desk's rule editor), returns, store credit.

Writes that carry business rules (status moves, ledger movements) go through services: the
return and ledger admins are read-only views with actions and links to the desk pages.
"""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from aftersale.core.money import format_money
from aftersale.core.tenancy import StoreScopedAdmin, stores_for_user
from aftersale.returns.models import (
    ReturnLine,
    ReturnReason,
    ReturnRequest,
    ReturnRuleSet,
    ReturnTransition,
    StoreCreditAccount,
    StoreCreditEntry,
)
from aftersale.returns.services import Actor, return_bulk_approve


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReturnReason)
class ReturnReasonAdmin(StoreScopedAdmin):
    list_display = ["__str__", "code", "requires_photos", "merchant_fault", "position", "active"]
    list_filter = ["active", "requires_photos", "merchant_fault"]
    list_editable = ["position", "active"]
    search_fields = ["code", "label"]
    ordering = ["store", "position", "id"]
    fields = [
        "store",
        "code",
        "label",
        "parent",
        "translations",
        "requires_photos",
        "merchant_fault",
        "position",
        "active",
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent" and not request.user.is_superuser:
            kwargs["queryset"] = ReturnReason.objects.filter(
                store__in=stores_for_user(request.user), parent__isnull=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if obj.parent_id and obj.parent.store_id != obj.store_id:
            messages.error(request, "A sub-reason must belong to its parent's store.")
            return
        super().save_model(request, obj, form, change)


@admin.register(ReturnRuleSet)
class ReturnRuleSetAdmin(StoreScopedAdmin):
    list_display = ["store", "version", "updated_at", "updated_by", "editor"]
    readonly_fields = ["store", "version", "definition", "fingerprint", "updated_at", "updated_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Edit")
    def editor(self, obj):
        url = reverse("returns_backoffice:rules") + f"?store={obj.store.slug}"
        return format_html('<a href="{}">Open the rule editor</a>', url)


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = [
        "order_line",
        "quantity",
        "reason_code",
        "amount",
        "fee_amount",
        "exchange_variant",
        "condition",
        "disposition",
    ]
    readonly_fields = fields


class ReturnTransitionInline(ReadOnlyInline):
    model = ReturnTransition
    fields = ["at", "from_status", "to_status", "actor_kind", "actor_label", "note"]
    readonly_fields = fields


@admin.register(ReturnRequest)
class ReturnRequestAdmin(StoreScopedAdmin):
    list_display = [
        "reference",
        "status",
        "outcome",
        "value",
        "fraud_flagged",
        "requested_at",
        "desk",
    ]
    list_filter = ["status", "outcome", "fraud_flagged", "shipping_method", "refund_state"]
    search_fields = ["public_id", "reference", "order__number", "customer__email"]
    date_hierarchy = "requested_at"
    list_select_related = ["store", "order", "customer"]
    show_full_result_count = False
    inlines = [ReturnLineInline, ReturnTransitionInline]
    actions = ["approve_selected"]
    readonly_fields = [f.name for f in ReturnRequest._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions are made on the desk page, through services

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Value", ordering="items_amount")
    def value(self, obj):
        return format_money(obj.items_amount, obj.currency)

    @admin.display(description="Desk")
    def desk(self, obj):
        url = reverse("returns_backoffice:detail", args=[obj.public_id])
        return format_html('<a href="{}">Review</a>', url)

    @admin.action(description="Approve selected returns")
    def approve_selected(self, request, queryset):
        total = 0
        for store in stores_for_user(request.user):
            refs = list(queryset.filter(store=store).values_list("public_id", flat=True))
            if not refs:
                continue
            approved, problems = return_bulk_approve(
                store=store, refs=refs, actor=Actor.staff(request.user)
            )
            total += approved
            for problem in problems[:10]:
                self.message_user(request, problem, messages.WARNING)
        self.message_user(request, f"{total} return(s) approved.", messages.SUCCESS)


class StoreCreditEntryInline(ReadOnlyInline):
    model = StoreCreditEntry
    fk_name = "account"
    fields = [
        "created_at",
        "kind",
        "amount",
        "balance_after",
        "cause",
        "return_request",
        "external_ref",
        "expires_at",
    ]
    readonly_fields = fields


@admin.register(StoreCreditAccount)
class StoreCreditAccountAdmin(StoreScopedAdmin):
    list_display = ["customer", "balance_display", "currency", "code_hint", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["customer__email", "public_id", "code"]
    list_select_related = ["customer", "store"]
    readonly_fields = ["store", "customer", "currency", "balance", "code", "created_at"]
    fields = readonly_fields
    inlines = [StoreCreditEntryInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Balance", ordering="balance")
    def balance_display(self, obj):
        return format_money(obj.balance, obj.currency)

    @admin.display(description="Code")
    def code_hint(self, obj):
        return f"…{obj.code[-4:]}"
