from __future__ import annotations

from django.db import models
from django.db.models import Q

from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store
from aftersale.orders.models import Order, OrderLine


class ShipmentStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    LABEL_CREATED = "label_created", "Label created"
    PICKED_UP = "picked_up", "Picked up"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    ATTEMPT_FAILED = "attempt_failed", "Delivery attempt failed"
    READY_FOR_PICKUP = "ready_for_pickup", "Ready for pickup"
    DELIVERED = "delivered", "Delivered"
    ON_HOLD = "on_hold", "On hold"
    EXCEPTION = "exception", "Exception"
    RETURNING_TO_SENDER = "returning_to_sender", "Returning to sender"
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class Shipment(models.Model):
    public_id = PublicIdField("shp")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="shipments")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    source = models.CharField(max_length=20, default="api")
    external_id = models.CharField(max_length=100, null=True, blank=True)
    carrier = models.CharField(max_length=60, blank=True, default="", db_index=True)
    service = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="", db_index=True)
    tracking_url = models.URLField(max_length=500, blank=True, default="")
    status = models.CharField(
        max_length=24, choices=ShipmentStatus.choices, default=ShipmentStatus.REGISTERED
    )
    # Where the parcel starts (warehouse or seller) and where it goes, for lanes and estimates.
    origin_postal_code = models.CharField(max_length=20, blank=True, default="")
    origin_city = models.CharField(max_length=100, blank=True, default="")
    origin_region = models.CharField(max_length=100, blank=True, default="")
    origin_country = models.CharField(max_length=2, blank=True, default="")
    destination_postal_code = models.CharField(max_length=20, blank=True, default="")
    destination_city = models.CharField(max_length=100, blank=True, default="")
    destination_region = models.CharField(max_length=100, blank=True, default="")
    destination_country = models.CharField(max_length=2, blank=True, default="")
    shipped_at = models.DateTimeField(null=True, blank=True)
    promised_delivery_date = models.DateField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="shipment_external_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["store", "status"], name="shipment_status_idx"),
            models.Index(fields=["store", "updated_at", "id"], name="shipment_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}".strip() or self.public_id


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="shipped")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipment_line_unique")
        ]


class TrackingEvent(models.Model):
    """One scan as the carrier reported it; the canonical status is derived by tracking services."""

    public_id = PublicIdField("tev")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=24, choices=ShipmentStatus.choices, blank=True, default="")
    raw_status = models.CharField(max_length=100, blank=True, default="")
    raw_text = models.CharField(max_length=500, blank=True, default="")
    location = models.CharField(max_length=200, blank=True, default="")
    source = models.CharField(max_length=20, default="api")
    # Hash of (occurred_at, raw_status, raw_text, location) so a repeated event is stored once.
    fingerprint = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "fingerprint"], name="tracking_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.raw_status}"
