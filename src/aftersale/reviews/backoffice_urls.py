"""Back-office pages of reviews, mounted under /admin/reviews/desk/ (before the admin's own)."""

from django.urls import path

from aftersale.reviews import backoffice

app_name = "reviews_backoffice"
urlpatterns = [
    path("", backoffice.desk, name="desk"),
    path("bulk/", backoffice.bulk, name="bulk"),
    path("r/<str:ref>/", backoffice.detail, name="detail"),
    path("photo/<str:ref>", backoffice.photo, name="photo"),
    path("settings/<slug:slug>/", backoffice.settings_page, name="settings"),
    path("import/<slug:slug>/", backoffice.import_page, name="import"),
]
