"""Back-office pages of tracking, mounted under /admin/tracking/watchlist/ (before the admin's
own URLs)."""

from django.urls import path

from aftersale.tracking import watchlist

app_name = "tracking_backoffice"

urlpatterns = [
    path("", watchlist.watchlist, name="watchlist"),
    path("lanes/", watchlist.lanes, name="lanes"),
]
