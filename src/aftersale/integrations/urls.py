from django.urls import path

from aftersale.integrations import views

app_name = "integrations"

urlpatterns = [
    path("shopify/<slug:store_slug>", views.shopify_webhook, name="shopify"),
    path("woocommerce/<slug:store_slug>", views.woocommerce_webhook, name="woocommerce"),
]
