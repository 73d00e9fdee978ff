from __future__ import annotations

import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from aftersale.core.fields import CurrencyField, PublicIdField
from aftersale.core.money import is_known_currency


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone such as Europe/Berlin")


def validate_currency(value: str) -> None:
    if not is_known_currency(value):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code")


class Store(models.Model):
    """A merchant's shop: the tenant every other row belongs to."""

    public_id = PublicIdField("sto")
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    currency = CurrencyField(default="EUR", validators=[validate_currency])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    default_locale = models.CharField(max_length=10, default="en")
    country = models.CharField(max_length=2, blank=True, default="")
    # Branding
    logo_url = models.URLField(blank=True, default="")
    brand_color = models.CharField(max_length=7, default="#1f4e79")
    accent_color = models.CharField(max_length=7, default="#f2a900")
    website_url = models.URLField(blank=True, default="")
    # Support contacts
    support_email = models.EmailField(blank=True, default="")
    support_phone = models.CharField(max_length=32, blank=True, default="")
    postal_address = models.TextField(blank=True, default="")
    # Inbound webhook secrets (Shopify app secret, WooCommerce webhook secret)
    shopify_webhook_secret = models.CharField(max_length=200, blank=True, default="")
    woocommerce_webhook_secret = models.CharField(max_length=200, blank=True, default="")
    # Tracking providers' webhook secrets: {"easypost": "…", "aftership": "…", "shippo": "…",
    # "karrio": "…", "generic": "…"}.
    carrier_webhook_secrets = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StoreMember(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        STAFF = "staff", "Staff"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "user"], name="store_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.store}"


API_KEY_PREFIX = "ask_"


def hash_api_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is as strong as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    public_id = PublicIdField("key")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.WRITE)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope})"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Returns (token shown once, lookup, secret hash)."""
        lookup = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        return f"{API_KEY_PREFIX}{lookup}_{secret}", lookup, hash_api_secret(secret)

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class OutboxEvent(models.Model):
    """A change worth reacting to, written in the same transaction as the change itself."""

    public_id = PublicIdField("evt")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=80)
    # What the event is about, e.g. "order:ord_…"; one aggregate's events are handled in order.
    aggregate = models.CharField(max_length=80)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"], name="outbox_pending_idx", condition=Q(dispatched_at__isnull=True)
            ),
            models.Index(fields=["store", "aggregate", "id"], name="outbox_aggregate_idx"),
            models.Index(fields=["store", "name", "id"], name="outbox_store_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.aggregate}"


class HandledEvent(models.Model):
    """Marks that one subscriber finished one event; written in the subscriber's transaction."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="handled")
    handler = models.CharField(max_length=200)
    handled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="handled_event_unique")
        ]


class StoreAlert(models.Model):
    """Something a merchant should see in the back office (a disabled webhook endpoint, …)."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="alerts")
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.WARNING)
    kind = models.CharField(max_length=60)
    subject = models.CharField(max_length=120, blank=True, default="")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.message[:80]


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"


class PeriodicJob(models.Model):
    """The next due time of a periodic job; the worker that locks the row enqueues the run."""

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class Mutex(models.Model):
    """A named row to lock, so that one process at a time does a job (the outbox dispatcher)."""

    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name
