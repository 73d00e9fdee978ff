from django.urls import path

from aftersale.reviews import views

app_name = "reviews"
urlpatterns = [
    path("reviews/widget.js", views.widget_js, name="widget_js"),
    path("reviews/feed/<slug:store_slug>.xml", views.feed, name="feed"),
    path("reviews/p/<str:token>", views.photo, name="photo"),
    path(
        "reviews/w/<slug:store_slug>/<str:product_ref>/fragment",
        views.fragment,
        name="fragment",
    ),
    path("reviews/w/<slug:store_slug>/<str:product_ref>/demo", views.demo, name="demo"),
    path("reviews/w/<str:token>", views.write_page, name="write"),
]
