"""Messages to shoppers: templates, the message log, suppressions and contact preferences."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q

from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Category(models.TextChoices):
    """What a shopper can opt out of. Transactional messages cannot be switched off."""

    TRANSACTIONAL = "transactional", "Order and delivery updates"
    FEEDBACK = "feedback", "Feedback and review requests"
    REMINDERS = "reminders", "Reorder reminders"
    OFFERS = "offers", "Offers, birthday and anniversary notes"


# Categories that count against the shared fatigue budget.
BUDGETED_CATEGORIES = (Category.FEEDBACK, Category.REMINDERS, Category.OFFERS)
# Categories that need the shopper's marketing consent.
CONSENT_CATEGORIES = (Category.REMINDERS, Category.OFFERS)


class MessagingSettings(models.Model):
    """A store's sender identity and the rules that apply to all its messages."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="messaging")
    sender_name = models.CharField(max_length=100, blank=True, default="")
    sender_email = models.EmailField(blank=True, default="")
    reply_to = models.EmailField(blank=True, default="")
    sms_sender = models.CharField(
        max_length=20, blank=True, default="", help_text="E.164 number or alphanumeric sender id"
    )
    quiet_hours_start = models.TimeField(default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0))
    fatigue_limit = models.PositiveSmallIntegerField(
        default=3, help_text="at most this many marketing messages and surveys per customer …"
    )
    fatigue_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="… in this many days"
    )
    footer_note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        verbose_name = "messaging settings"
        verbose_name_plural = "messaging settings"

    def __str__(self) -> str:
        return f"Messaging settings of {self.store}"


class KindPolicy(models.Model):
    """Per-store overrides for one message kind (quiet hours, expiry, priority)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="message_policies")
    kind = models.CharField(max_length=40)
    ignore_quiet_hours = models.BooleanField(default=False)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    priority = models.SmallIntegerField(null=True, blank=True)
    expires_after_hours = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "kind policies"
        constraints = [
            models.UniqueConstraint(fields=["store", "kind"], name="kind_policy_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} policy"


class MessageTemplate(models.Model):
    """A store's wording of one message kind in one locale and channel."""

    public_id = PublicIdField("tpl")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="message_templates")
    kind = models.CharField(max_length=40)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.EMAIL)
    locale = models.CharField(max_length=10)
    subject = models.CharField(max_length=300, blank=True, default="")
    preheader = models.CharField(max_length=300, blank=True, default="")
    html_body = models.TextField(blank=True, default="")
    text_body = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "channel", "locale"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "kind", "channel", "locale"], name="message_template_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.channel}, {self.locale})"


class Message(models.Model):
    """One message to one recipient; its idempotency key makes sure it exists (and goes) once."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"
        BOUNCED = "bounced", "Bounced"
        EXPIRED = "expired", "Expired"

    public_id = PublicIdField("msg")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="messages")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    kind = models.CharField(max_length=40)
    category = models.CharField(max_length=15, choices=Category.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.EMAIL)
    recipient = models.CharField(max_length=254)
    locale = models.CharField(max_length=10)
    time_zone = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=200)
    # What sent it, e.g. "flow:flo_…:step-3", for per-flow results.
    origin = models.CharField(max_length=120, blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    status_reason = models.CharField(max_length=300, blank=True, default="")
    due_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A sender that claims the message holds it until lease_until; handed_off_at is written just
    # before the provider can accept it, so a sender that dies after that point is never retried.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    # When the message took a place in the shopper's fatigue budget (marketing and surveys).
    budgeted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True, default="")
    subject = models.CharField(max_length=300, blank=True, default="")
    template_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "idempotency_key"], name="message_idempotency_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at", "priority"],
                name="message_due_idx",
                condition=Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["store", "customer", "budgeted_at"], name="message_budget_idx"),
            models.Index(
                fields=["store", "recipient", "budgeted_at"], name="message_budget_addr_idx"
            ),
            models.Index(fields=["store", "origin"], name="message_origin_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}"


class MessageLog(models.Model):
    """Every status a message went through, with the provider's words where there are any."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="log")
    status = models.CharField(max_length=20)
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class Suppression(models.Model):
    """An address this store must not send to on a channel (hard bounce, complaint, unsubscribe)."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        COMPLAINT = "complaint", "Spam complaint"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed from everything"
        MANUAL = "manual", "Added by staff"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="suppressions")
    channel = models.CharField(max_length=5, choices=Channel.choices)
    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=15, choices=Reason.choices)
    detail = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "channel", "address"], name="suppression_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.reason})"


class ContactPreference(models.Model):
    """What a shopper chose on the preferences page; no row means the defaults."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="contact_preference"
    )
    feedback = models.BooleanField(default=True)
    reminders = models.BooleanField(default=True)
    offers = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    sms = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_via = models.CharField(max_length=40, blank=True, default="")

    def __str__(self) -> str:
        return f"Preferences of {self.customer}"

    def allows(self, category: str, channel: str) -> bool:
        if category == Category.TRANSACTIONAL:
            return True
        return bool(getattr(self, category, True)) and bool(getattr(self, channel, True))


class LinkClick(models.Model):
    """A shopper followed a tracked link in a message."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="clicks")
    url = models.URLField(max_length=1000)
    clicked_at = models.DateTimeField()

    class Meta:
        ordering = ["-clicked_at"]
        indexes = [models.Index(fields=["message", "clicked_at"], name="click_message_idx")]
