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


class EventReason(models.TextChoices):
    """Why an event happened, beside its status (a delay in customs is still in transit)."""

    CUSTOMS_DELAY = "customs_delay", "Customs delay"
    WEATHER = "weather", "Weather"
    ADDRESS_PROBLEM = "address_problem", "Address problem"
    REFUSED = "refused", "Refused by the recipient"
    DAMAGED = "damaged", "Damaged"
    LOST = "lost", "Lost"
    RECIPIENT_ABSENT = "recipient_absent", "Recipient absent"
    BUSINESS_CLOSED = "business_closed", "Business closed"
    HELD_AT_CARRIER = "held_at_carrier", "Held at the carrier"
    PAYMENT_DUE = "payment_due", "Duties or charges to pay"
    CARRIER_DELAY = "carrier_delay", "Carrier delay"
    NOT_YET_RECEIVED = "not_yet_received", "Not yet handed to the carrier"
    OTHER = "other", "Other"


# The source of a parcel that carries goods back to the store (a return's label, made by the
# returns app): tracked like any other, but not news about the order's delivery.
RETURN_PARCEL_SOURCE = "returns"


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
    # The carrier as aftersale knows it ("ups", "dhl_express" …), detected from the tracking
    # number unless staff set it by hand; and whether the number passed its check digit.
    carrier_code = models.CharField(max_length=40, blank=True, default="")
    carrier_overridden = models.BooleanField(default=False)
    tracking_number_valid = models.BooleanField(null=True, blank=True)
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
    # The latest carrier scan, for "stalled" detection.
    last_event_at = models.DateTimeField(null=True, blank=True)
    # The current delivery estimate (every revision is a DeliveryEstimate row).
    estimated_delivery_date = models.DateField(null=True, blank=True)
    estimated_earliest = models.DateField(null=True, blank=True)
    estimated_latest = models.DateField(null=True, blank=True)
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
    reason = models.CharField(max_length=20, choices=EventReason.choices, blank=True, default="")
    # False when the provider code was unknown: kept as in transit, listed under "needs mapping".
    mapped = models.BooleanField(default=True)
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


class DeliveryEstimate(models.Model):
    """One revision of a shipment's delivery estimate: when, from what, and why it moved."""

    class Source(models.TextChoices):
        HISTORY = "history", "Learned from the store's deliveries"
        PROMISE = "promise", "The merchant's promise"
        CARRIER = "carrier", "The carrier's estimate"
        MANUAL = "manual", "Set by staff"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="estimates")
    created_at = models.DateTimeField()
    estimated_date = models.DateField()
    earliest = models.DateField()
    latest = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices)
    reason = models.CharField(max_length=200, blank=True, default="")
    # How many past deliveries the estimate was learned from (0 for a promise or carrier date).
    sample_size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["shipment", "created_at"], name="estimate_shipment_idx")]

    def __str__(self) -> str:
        return f"{self.estimated_date} ({self.earliest}–{self.latest}, {self.source})"


class ShipmentIssue(models.Model):
    """Something wrong with a parcel that the shopper and the merchant should hear about once."""

    class Kind(models.TextChoices):
        LATE = "late", "Late"
        STALLED = "stalled", "Stalled (no scan for days)"
        EXCEPTION = "exception", "Exception"
        ATTEMPT_FAILED = "attempt_failed", "Delivery attempt failed"
        READY_FOR_PICKUP = "ready_for_pickup", "Ready for pickup"
        RETURNING_TO_SENDER = "returning_to_sender", "Returning to sender"
        LOST = "lost", "Lost"
        INVALID_TRACKING_NUMBER = "invalid_tracking_number", "Invalid tracking number"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="shipment_issues")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="issues")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    detail = models.CharField(max_length=300, blank=True, default="")
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "kind"], name="shipment_issue_once"),
        ]
        indexes = [models.Index(fields=["store", "kind", "resolved_at"], name="issue_open_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.shipment})"


class ProblemReport(models.Model):
    """A shopper's "report a problem" from the tracking page."""

    class Kind(models.TextChoices):
        NOT_ARRIVED = "not_arrived", "Not arrived"
        DAMAGED = "damaged", "Damaged"
        WRONG_ITEM = "wrong_item", "Wrong item"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    public_id = PublicIdField("prb")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="problem_reports")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="problem_reports")
    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="problem_reports"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.order}"


class TrackLookupAttempt(models.Model):
    """One try at the public /track lookup, kept briefly so that its limits hold across processes.

    The client is an HMAC of its IP address (never the address itself); `subject` is the order
    number as typed, normalised, or the tracking number.
    """

    class Kind(models.TextChoices):
        ORDER = "order", "Order number"
        PARCEL = "parcel", "Tracking number"

    kind = models.CharField(max_length=6, choices=Kind.choices)
    client = models.CharField(max_length=64)
    subject = models.CharField(max_length=100, blank=True, default="")
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["client", "created_at"], name="track_attempt_client_idx"),
            models.Index(fields=["subject", "created_at"], name="track_attempt_subject_idx"),
            models.Index(fields=["created_at"], name="track_attempt_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} ({self.created_at:%Y-%m-%d %H:%M})"
