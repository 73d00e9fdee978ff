from __future__ import annotations

from django.db import models
from django.db.models import Q

from aftersale.core.fields import CurrencyField, MoneyField, PublicIdField
from aftersale.core.models import Store


class Product(models.Model):
    public_id = PublicIdField("prd")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    source = models.CharField(max_length=20, default="api")
    external_id = models.CharField(max_length=100, null=True, blank=True)
    title = models.CharField(max_length=300)
    handle = models.CharField(max_length=200, blank=True, default="")
    vendor = models.CharField(max_length=200, blank=True, default="")
    category = models.CharField(max_length=200, blank=True, default="", db_index=True)
    tags = models.JSONField(default=list, blank=True)
    image_url = models.URLField(max_length=500, blank=True, default="")
    final_sale = models.BooleanField(default=False)
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="product_external_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Variant(models.Model):
    public_id = PublicIdField("var")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="variants")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    source = models.CharField(max_length=20, default="api")
    external_id = models.CharField(max_length=100, null=True, blank=True)
    sku = models.CharField(max_length=100, blank=True, default="", db_index=True)
    title = models.CharField(max_length=300, blank=True, default="")
    price = MoneyField()
    currency = CurrencyField()
    image_url = models.URLField(max_length=500, blank=True, default="")
    inventory_quantity = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="variant_external_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.title} – {self.title}" if self.title else self.product.title
