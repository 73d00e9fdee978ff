from django.urls import path

from aftersale.tracking import views

app_name = "tracking"

urlpatterns = [
    path("t/<str:token>", views.tracking_page, name="page"),
    path("track", views.lookup, name="lookup"),
]
