"""Back-office pages of feedback, mounted under /admin/feedback/desk/ (before the admin's own
URLs): the report, and the detractor cases."""

from django.urls import path

from aftersale.feedback import backoffice

app_name = "feedback_backoffice"

urlpatterns = [
    path("", backoffice.report, name="report"),
    path("cases/", backoffice.cases, name="cases"),
    path("cases/<str:public_id>/", backoffice.case, name="case"),
]
