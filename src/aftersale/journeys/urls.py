"""Back-office pages of flows, mounted under /admin/flows/ (before the admin's own URLs)."""

from django.urls import path

from aftersale.journeys import views

app_name = "journeys"

urlpatterns = [
    path("", views.flows_overview, name="overview"),
    path("<str:public_id>/results/", views.flow_results, name="flow_results"),
]
