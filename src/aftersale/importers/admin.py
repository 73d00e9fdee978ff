from django.contrib import admin

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.importers.models import ImportedReview, ImportRun


@admin.register(ImportRun)
class ImportRunAdmin(StoreScopedAdmin):
    list_display = ["started_at", "source", "status", "finished_at", "location"]
    list_filter = ["source", "status"]
    readonly_fields = [
        "store",
        "source",
        "location",
        "status",
        "started_at",
        "finished_at",
        "counts",
        "problems",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(ImportedReview)
class ImportedReviewAdmin(StoreScopedAdmin):
    list_display = ["created_at", "score", "title", "order", "source"]
    list_filter = ["score", "source"]
    search_fields = ["title", "text", "external_id", "order__external_id"]
    list_select_related = ["order"]
    raw_id_fields = ["order"]
    show_full_result_count = False
