from django.urls import path

from aftersale.feedback import views

app_name = "feedback"

urlpatterns = [
    # The one-click score link of a survey email, and the page behind it (comment, change).
    path("f/<str:token>", views.score, name="score"),
    path("f/a/<str:token>", views.page, name="page"),
]
