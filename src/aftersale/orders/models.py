from __future__ import annotations

from django.db import models
from django.db.models import Q

from aftersale.catalog.models import Product, Variant
from aftersale.core.fields import CurrencyField, MoneyField, PublicIdField
from aftersale.core.models import Store
from aftersale.customers.models import Address, Customer


class Order(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    class FinancialStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        AUTHORIZED = "authorized", "Authorized"
        PAID = "paid", "Paid"
        PARTIALLY_PAID = "partially_paid", "Partially paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        VOIDED = "voided", "Voided"

    class FulfillmentStatus(models.TextChoices):
        UNFULFILLED = "unfulfilled", "Unfulfilled"
        PARTIAL = "partial", "Partially fulfilled"
        FULFILLED = "fulfilled", "Fulfilled"

    class Channel(models.TextChoices):
        ONLINE = "online", "Online"
        IN_STORE = "in_store", "In store"

    public_id = PublicIdField("ord")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="orders")
    source = models.CharField(max_length=20, default="api")
    external_id = models.CharField(max_length=100)
    number = models.CharField(max_length=60, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    financial_status = models.CharField(
        max_length=20, choices=FinancialStatus.choices, default=FinancialStatus.PAID
    )
    fulfillment_status = models.CharField(
        max_length=12, choices=FulfillmentStatus.choices, default=FulfillmentStatus.UNFULFILLED
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.ONLINE)
    currency = CurrencyField()
    subtotal = MoneyField()
    discount_total = MoneyField()
    shipping_total = MoneyField()
    tax_total = MoneyField()
    total = MoneyField()
    discount_codes = models.JSONField(default=list, blank=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    email = models.EmailField(blank=True, default="")
    shipping_address = models.ForeignKey(
        Address, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    billing_address = models.ForeignKey(
        Address, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tags = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True, default="")
    placed_at = models.DateTimeField(db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"], name="order_external_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "updated_at", "id"], name="order_updated_idx"),
            models.Index(fields=["store", "customer", "placed_at"], name="order_customer_idx"),
            models.Index(fields=["store", "placed_at"], name="order_placed_idx"),
        ]

    def __str__(self) -> str:
        return self.number if self.number.startswith("#") else f"#{self.number}"


class OrderLine(models.Model):
    """A line as it was sold: title, SKU and price are a snapshot, not a live catalog reference."""

    public_id = PublicIdField("lin")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=100, blank=True, default="")
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="order_lines"
    )
    variant = models.ForeignKey(
        Variant, on_delete=models.SET_NULL, null=True, blank=True, related_name="order_lines"
    )
    sku = models.CharField(max_length=100, blank=True, default="")
    title = models.CharField(max_length=300)
    variant_title = models.CharField(max_length=300, blank=True, default="")
    unit_price = MoneyField()
    quantity = models.PositiveIntegerField()
    discount = MoneyField()
    total = MoneyField()
    requires_shipping = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.title}"


class Refund(models.Model):
    public_id = PublicIdField("ref")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="refunds")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    source = models.CharField(max_length=20, default="api")
    external_id = models.CharField(max_length=100, null=True, blank=True)
    amount = MoneyField()
    currency = CurrencyField()
    reason = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-processed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="refund_external_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on {self.order}"


class RefundLine(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="refunds")
    quantity = models.PositiveIntegerField()
    amount = MoneyField()
    restock = models.BooleanField(default=False)
