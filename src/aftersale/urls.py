from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from aftersale.api import api


def healthz(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("admin/flows/", include("aftersale.journeys.urls")),
    path("admin/tracking/watchlist/", include("aftersale.tracking.backoffice_urls")),
    path("admin/returns/desk/", include("aftersale.returns.backoffice_urls")),
    path("admin/feedback/desk/", include("aftersale.feedback.backoffice_urls")),
    path("admin/reviews/desk/", include("aftersale.reviews.backoffice_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("webhooks/", include("aftersale.integrations.urls")),
    path("healthz", healthz, name="healthz"),
    path("", include("aftersale.messaging.urls")),
    path("", include("aftersale.tracking.urls")),
    path("", include("aftersale.returns.urls")),
    path("", include("aftersale.feedback.urls")),
    path("", include("aftersale.reviews.urls")),
    # Email providers' bounce and complaint webhooks (django-anymail), see docs/messaging.md.
    path("anymail/", include("anymail.urls")),
]

admin.site.site_header = "aftersale back office"
admin.site.site_title = "aftersale"
admin.site.index_title = "Post-purchase operations"
