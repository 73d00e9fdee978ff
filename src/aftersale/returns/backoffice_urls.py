from django.urls import path  # noqa: F401

app_name = "returns_backoffice"
urlpatterns: list = []
