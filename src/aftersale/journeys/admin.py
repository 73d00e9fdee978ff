"""Read-only views of flows and their state; editing flows belongs to the back office."""

from django.contrib import admin

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.journeys.models import DiscountPool, Enrolment, Flow, ScheduledStep, StepRun


class ReadOnlyAdmin(StoreScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Flow)
class FlowAdmin(ReadOnlyAdmin):
    list_display = ["name", "key", "store", "trigger_event", "active", "builtin", "updated_at"]
    list_filter = ["active", "builtin", "trigger_event"]
    search_fields = ["name", "key", "public_id"]
    exclude = ["webhook_secret"]


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "flow", "subject_ref", "state", "current_step", "branch"]
    list_filter = ["state"]
    search_fields = ["public_id", "subject_ref"]
    list_select_related = ["flow"]
    raw_id_fields = ["customer", "order", "shipment", "version", "flow"]


@admin.register(ScheduledStep)
class ScheduledStepAdmin(ReadOnlyAdmin):
    store_field = "enrolment__store"
    list_display = ["enrolment", "step_id", "due_at", "status", "attempts", "claimed_by"]
    list_filter = ["status"]
    raw_id_fields = ["enrolment"]


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ["enrolment", "step_id", "outcome", "at"]
    list_filter = ["outcome"]
    raw_id_fields = ["enrolment", "flow"]


@admin.register(DiscountPool)
class DiscountPoolAdmin(ReadOnlyAdmin):
    list_display = ["name", "key", "store", "expires_on"]
