from django.urls import path

from aftersale.returns import views

app_name = "returns"

urlpatterns = [
    path("returns", views.lookup, name="lookup"),
    path("returns/o/<str:token>", views.start, name="start"),
    path("returns/items", views.items, name="items"),
    path("returns/reason", views.reason, name="reason"),
    path("returns/outcome", views.outcome, name="outcome"),
    path("returns/method", views.method, name="method"),
    path("returns/confirm", views.confirm, name="confirm"),
    path("returns/s/<str:token>", views.status, name="status"),
    path("returns/s/<str:token>/label.pdf", views.document, {"kind": "label"}, name="label"),
    path("returns/s/<str:token>/slip.pdf", views.document, {"kind": "slip"}, name="slip"),
    path("returns/p/<str:token>", views.photo, name="photo"),
]
