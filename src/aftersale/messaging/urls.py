from django.urls import path

from aftersale.messaging import views

app_name = "messaging"

urlpatterns = [
    path("m/p/<str:token>", views.preferences, name="preferences"),
    path("m/u/<str:token>", views.unsubscribe_view, name="unsubscribe"),
    path("m/c/<str:token>", views.click, name="click"),
    path("o/<str:token>", views.order_page, name="order"),
]
