from django.urls import path

urlpatterns: list = [
    # Shopify and WooCommerce receivers are added by the integrations work.
]
_ = path
