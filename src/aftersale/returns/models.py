"""Returns: the store's reasons and rules, the shopper's return requests, and store credit.

A return request (`ret_…`) is one shopper's return of some lines of one order, with one outcome
(refund, store credit, exchange, or keep the item). Its status moves through the lifecycle in
`ReturnRequest.Status`; every move is a `ReturnTransition` row with who made it. Store credit is a
ledger per customer per store whose balance is never negative.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property

from aftersale.catalog.models import Variant
from aftersale.core.fields import CurrencyField, MoneyField, PublicIdField
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order, OrderLine, Refund
from aftersale.tracking.models import Shipment


class PrivateStorage(FileSystemStorage):
    """Files under MEDIA_ROOT/private, with no URL: served only through a signed view.

    The location follows MEDIA_ROOT when it changes (tests), like Django's default storage.
    """

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, str(Path(settings.MEDIA_ROOT) / "private"))

    def url(self, name):
        raise ValueError("private files have no URL; serve them through a signed view")


private_storage = PrivateStorage()


def _private_storage():
    return private_storage


class Outcome(models.TextChoices):
    REFUND = "refund", "Refund to the original payment"
    STORE_CREDIT = "store_credit", "Store credit"
    EXCHANGE_SAME = "exchange_same", "Exchange for another variant"
    EXCHANGE_OTHER = "exchange_other", "Exchange for another product"
    KEEP_ITEM = "keep_item", "Keep the item (refund without returning it)"


class ReturnReason(models.Model):
    """A reason in the store's list; one with a parent is a sub-reason ("fit" → "too small")."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="return_reasons")
    code = models.SlugField(max_length=60)
    label = models.CharField(max_length=120)
    # Wording in other languages, {"de": "Zu klein", "pt-br": "Muito pequeno"}; label otherwise.
    translations = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    requires_photos = models.BooleanField(default=False)
    # A reason the shopper is not at fault for (damaged, wrong item): fees are waived.
    merchant_fault = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["store_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "code"], name="return_reason_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.parent.label} › {self.label}" if self.parent_id else self.label

    def label_for(self, locale: str) -> str:
        return self.translations.get(locale) or self.translations.get(locale[:2]) or self.label


class ReturnRuleSet(models.Model):
    """The store's return rules: defaults plus ordered rules, validated by rules.RuleSetIn."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="return_rules")
    # {"defaults": {...actions...}, "rules": [{"id", "name", "conditions", "actions", ...}]}
    definition = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    # sha256 of the definition: compiled rules are cached by it.
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"Return rules of {self.store} (v{self.version})"


class ReturnRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        LABEL_ISSUED = "label_issued", "Label issued"
        IN_TRANSIT = "in_transit", "In transit"
        RECEIVED = "received", "Received"
        INSPECTED = "inspected", "Inspected"
        REFUNDED = "refunded", "Refunded"
        CREDITED = "credited", "Credited"
        EXCHANGED = "exchanged", "Exchanged"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    class ShippingMethod(models.TextChoices):
        PREPAID_LABEL = "prepaid_label", "Prepaid label"
        DROP_OFF = "drop_off", "Drop-off with a QR code"
        IN_STORE = "in_store", "In store"
        NONE = "none", "Nothing to send (keep the item)"

    class RefundTiming(models.TextChoices):
        INSTANT = "instant", "On the first carrier scan"
        ON_RECEIPT = "on_receipt", "When the parcel arrives"
        AFTER_INSPECTION = "after_inspection", "After inspection"

    class RefundState(models.TextChoices):
        NONE = "none", "Not yet due"
        REQUESTED = "requested", "Asked of the platform"
        CONFIRMED = "confirmed", "Confirmed by the platform"

    public_id = PublicIdField("ret")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="return_requests")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="return_requests")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="return_requests"
    )
    # Shown to people: "#1001-R1".
    reference = models.CharField(max_length=80)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    shipping_method = models.CharField(
        max_length=14, choices=ShippingMethod.choices, default=ShippingMethod.PREPAID_LABEL
    )
    refund_timing = models.CharField(
        max_length=16, choices=RefundTiming.choices, default=RefundTiming.ON_RECEIPT
    )
    # Gift returns are credited to the recipient (a customer found or created by email).
    is_gift = models.BooleanField(default=False)
    gift_recipient_email = models.EmailField(blank=True, default="")
    gift_recipient_name = models.CharField(max_length=200, blank=True, default="")
    comment = models.TextField(blank=True, default="")
    locale = models.CharField(max_length=10, blank=True, default="")
    # Where the parcel is sent from, when the shopper gave it (labels; mismatched-address signal).
    sender_postal_code = models.CharField(max_length=20, blank=True, default="")
    sender_country = models.CharField(max_length=2, blank=True, default="")
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)
    # Money, all in `currency`, computed by the server from the order lines and the rules.
    currency = CurrencyField()
    items_amount = MoneyField()  # what the returned units were paid (after line discounts)
    bonus_amount = MoneyField()  # credit or exchange bonus
    fee_amount = MoneyField()  # return fee + restocking fees
    exchange_amount = MoneyField()  # price of the replacement items
    upcharge_amount = MoneyField()  # what the shopper pays on top for a dearer exchange
    total_amount = MoneyField()  # what the shopper gets back: refund or credit (0 for exchange)
    # What the rules decided, for the back office and the shopper's page.
    requires_review = models.BooleanField(default=False)
    ship_exchange_first = models.BooleanField(default=False)
    matched_rules = models.JSONField(default=list, blank=True)  # ["rule id", …]
    fraud_flagged = models.BooleanField(default=False, db_index=True)
    # [{"signal": "serial_returner", "detail": "5 returns in the last 365 days"}, …]
    fraud_signals = models.JSONField(default=list, blank=True)
    # Money movements
    refund_state = models.CharField(
        max_length=10, choices=RefundState.choices, default=RefundState.NONE
    )
    refund_requested_at = models.DateTimeField(null=True, blank=True)
    refund = models.ForeignKey(
        Refund, on_delete=models.SET_NULL, null=True, blank=True, related_name="return_requests"
    )
    exchange_order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="exchange_for"
    )
    exchange_order_external_id = models.CharField(max_length=100, blank=True, default="")
    staff_notes = models.TextField(blank=True, default="")
    rejection_reason = models.CharField(max_length=300, blank=True, default="")
    # When each step was reached (the transitions hold the full history).
    requested_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)  # refunded, credited or exchanged
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="return_request_idempotency_unique",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0) & Q(fee_amount__gte=0) & Q(items_amount__gte=0),
                name="return_request_amounts_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["store", "status", "requested_at"], name="return_status_idx"),
            models.Index(fields=["store", "updated_at", "id"], name="return_updated_idx"),
            models.Index(fields=["store", "customer"], name="return_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.reference or self.public_id

    @property
    def is_returnless(self) -> bool:
        return self.outcome == Outcome.KEEP_ITEM


class ReturnLine(models.Model):
    class Condition(models.TextChoices):
        NEW = "new", "New, unused, with tags"
        LIKE_NEW = "like_new", "Like new"
        USED = "used", "Used"
        DAMAGED = "damaged", "Damaged"
        NOT_RECEIVED = "not_received", "Not in the parcel"

    class Disposition(models.TextChoices):
        RESTOCK = "restock", "Restock"
        REFURBISH = "refurbish", "Refurbish"
        RESELL = "resell", "Resell (second hand)"
        DONATE = "donate", "Donate"
        RECYCLE = "recycle", "Recycle"
        DISCARD = "discard", "Discard"

    public_id = PublicIdField("rln")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="returned")
    quantity = models.PositiveIntegerField()
    reason = models.ForeignKey(
        ReturnReason, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    # Snapshots, so that reports survive a reason being renamed or removed.
    reason_code = models.CharField(max_length=60, blank=True, default="")
    parent_reason_code = models.CharField(max_length=60, blank=True, default="")
    comment = models.TextField(blank=True, default="")
    unit_amount = MoneyField()  # what one unit was paid (unit price minus its discount share)
    amount = MoneyField()  # unit_amount × quantity
    fee_amount = MoneyField()  # restocking fee on this line
    exchange_variant = models.ForeignKey(
        Variant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    exchange_unit_price = MoneyField()
    photos_required = models.BooleanField(default=False)
    condition = models.CharField(max_length=12, choices=Condition.choices, blank=True, default="")
    disposition = models.CharField(
        max_length=10, choices=Disposition.choices, blank=True, default=""
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="return_line_quantity_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.order_line.title}"


def photo_upload_to(instance: ReturnPhoto, filename: str) -> str:
    extension = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(
        instance.content_type, "bin"
    )
    return f"returns/{instance.store_id}/{instance.public_id}.{extension}"


class ReturnPhoto(models.Model):
    """A shopper's photo of a returned line; stored privately, served only through a signed link."""

    public_id = PublicIdField("rph")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    line = models.ForeignKey(ReturnLine, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to=photo_upload_to, storage=_private_storage, max_length=300)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.public_id


class ReturnLabel(models.Model):
    """How the parcel comes back: a carrier label (with its tracked Shipment) or a drop-off code."""

    public_id = PublicIdField("rlb")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="labels")
    provider = models.CharField(max_length=40)  # "pdf", "fake", "easypost" …
    provider_ref = models.CharField(max_length=120, blank=True, default="")
    carrier = models.CharField(max_length=60, blank=True, default="")
    service = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    tracking_url = models.URLField(max_length=500, blank=True, default="")
    qr_payload = models.CharField(max_length=500, blank=True, default="")
    document = models.FileField(
        upload_to="returns/labels/", storage=_private_storage, max_length=300, blank=True
    )
    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="return_labels"
    )
    created_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}".strip() or self.public_id


class ReturnTransition(models.Model):
    class ActorKind(models.TextChoices):
        STAFF = "staff", "Staff"
        SHOPPER = "shopper", "Shopper"
        SYSTEM = "system", "System"
        CARRIER = "carrier", "Carrier"
        PLATFORM = "platform", "Platform (API)"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=12, blank=True, default="")
    to_status = models.CharField(max_length=12)
    at = models.DateTimeField()
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class StoreCreditAccount(models.Model):
    """A customer's store credit in one store and currency; `code` is used at checkout."""

    public_id = PublicIdField("sca")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="credit_accounts")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="credit_accounts")
    currency = CurrencyField()
    balance = MoneyField()
    code = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "customer", "currency"], name="credit_account_unique"
            ),
            models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.balance} {self.currency}"


class StoreCreditEntry(models.Model):
    class Kind(models.TextChoices):
        ISSUE = "issue", "Issued"
        REDEEM = "redeem", "Redeemed"
        EXPIRE = "expire", "Expired"
        REVERSE = "reverse", "Reversed"

    public_id = PublicIdField("sce")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(
        StoreCreditAccount, on_delete=models.CASCADE, related_name="entries"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = MoneyField()  # signed: + issue, − redeem / expire / reverse
    balance_after = MoneyField()
    cause = models.CharField(max_length=300)
    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="credits"
    )
    # The entry this one reverses or expires (an issue).
    reverses = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    external_ref = models.CharField(max_length=120, blank=True, default="")  # platform's order id
    idempotency_key = models.CharField(max_length=120)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "idempotency_key"], name="credit_entry_idempotency_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "kind", "expires_at"], name="credit_entry_expiry_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"
