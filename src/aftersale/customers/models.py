from __future__ import annotations

from django.db import models
from django.db.models import Q

from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store


class Customer(models.Model):
    public_id = PublicIdField("cus")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="customers")
    source = models.CharField(max_length=20, default="api")
    external_id = models.CharField(max_length=100, null=True, blank=True)
    email = models.EmailField(blank=True, default="")  # normalised: lower case, trimmed
    phone = models.CharField(max_length=20, blank=True, default="")  # E.164
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    locale = models.CharField(max_length=10, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
    birthday = models.DateField(null=True, blank=True)
    accepts_marketing = models.BooleanField(default=False)
    marketing_consent_at = models.DateTimeField(null=True, blank=True)
    marketing_consent_source = models.CharField(max_length=60, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="customer_external_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["store", "email"], name="customer_email_idx"),
            models.Index(fields=["store", "updated_at", "id"], name="customer_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.public_id

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Address(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="addresses")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="addresses"
    )
    name = models.CharField(max_length=200, blank=True, default="")
    company = models.CharField(max_length=200, blank=True, default="")
    line1 = models.CharField(max_length=200, blank=True, default="")
    line2 = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    region = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")  # ISO 3166-1 alpha-2
    phone = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        verbose_name_plural = "addresses"

    def __str__(self) -> str:
        parts = [self.line1, self.postal_code, self.city, self.country]
        return ", ".join(p for p in parts if p)
