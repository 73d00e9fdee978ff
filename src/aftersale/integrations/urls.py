from django.urls import path

from aftersale.integrations import carrier_views, views

app_name = "integrations"

urlpatterns = [
    path("shopify/<slug:store_slug>", views.shopify_webhook, name="shopify"),
    path("woocommerce/<slug:store_slug>", views.woocommerce_webhook, name="woocommerce"),
    # Tracking providers: easypost, aftership, shippo, karrio and our generic format.
    path(
        "carriers/<slug:provider>/<slug:store_slug>",
        carrier_views.carrier_webhook,
        name="carrier",
    ),
]
