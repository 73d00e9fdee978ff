from django.contrib import admin

from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.importers.models import ImportRun


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
