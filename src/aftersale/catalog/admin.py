from django.contrib import admin

from aftersale.catalog.models import Product, Variant
from aftersale.core.tenancy import StoreScopedAdmin


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["sku", "title", "price", "currency", "inventory_quantity"]


@admin.register(Product)
class ProductAdmin(StoreScopedAdmin):
    list_display = ["title", "category", "vendor", "final_sale", "updated_at"]
    list_filter = ["category", "final_sale"]
    search_fields = ["title", "handle", "public_id", "external_id", "variants__sku"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    inlines = [VariantInline]


@admin.register(Variant)
class VariantAdmin(StoreScopedAdmin):
    list_display = ["sku", "product", "title", "price", "currency", "inventory_quantity"]
    search_fields = ["sku", "title", "product__title", "public_id"]
    list_select_related = ["product"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    raw_id_fields = ["product"]
