"""Back-office pages of returns, under /admin/returns/desk/ (before the admin's own URLs)."""

from django.urls import path

from aftersale.returns import backoffice

app_name = "returns_backoffice"

urlpatterns = [
    path("", backoffice.queue, name="queue"),
    path("rules/", backoffice.rules, name="rules"),
    path("reports/", backoffice.reports_page, name="reports"),
    path("photos/<str:ref>/", backoffice.photo, name="photo"),
    path("<str:ref>/", backoffice.detail, name="detail"),
]
