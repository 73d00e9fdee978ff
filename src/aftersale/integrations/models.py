from __future__ import annotations

from django.db import models
from django.utils import timezone

from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"


class InboundPayload(models.Model):
    """One webhook delivery from a shop, stored raw before any work so it can be replayed."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # stored and queued
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"  # a topic we do not act on
        WAITING = "waiting", "Waiting"  # refers to something not here yet; retried
        FAILED = "failed", "Failed"  # see last_error; replay once the cause is fixed
        STALE = "stale", "Superseded"  # older than a version of the object already applied

    public_id = PublicIdField("inb")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="inbound_payloads")
    platform = models.CharField(max_length=20, choices=Platform.choices)
    topic = models.CharField(max_length=100)
    # The sender's id for this delivery; a repeat of it is answered and dropped.
    delivery_id = models.CharField(max_length=100)
    # The id of the thing in the body (order, fulfillment, refund, customer id).
    external_id = models.CharField(max_length=100, blank=True, default="")
    # What the payload is about, e.g. "order:shopify:450789469": links an order to its payloads.
    object_ref = models.CharField(max_length=140, blank=True, default="")
    # When the platform last changed the object (updated_at); orders out of order are skipped.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "platform", "delivery_id"], name="inbound_delivery_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "object_ref"], name="inbound_object_idx"),
            models.Index(fields=["status", "received_at"], name="inbound_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.topic} {self.delivery_id}"
