"""Flows as data, and the durable state of every shopper's way through one.

A Flow points at its current FlowVersion; versions are never changed once written, and every
Enrolment keeps the version it started on. An enrolment's next step is always one ScheduledStep
row, so a worker that dies loses nothing: the row is there, due or leased, for the next worker.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment


def new_flow_secret() -> str:
    return "fls_" + secrets.token_urlsafe(32)


class Flow(models.Model):
    public_id = PublicIdField("flo")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="flows")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    builtin = models.BooleanField(default=False)
    current_version = models.ForeignKey(
        "FlowVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Copied from the current version's definition so the trigger subscriber can filter in SQL.
    trigger_event = models.CharField(max_length=80, blank=True, default="", db_index=True)
    # Signs the bodies of the flow's webhook steps (see core/signing.py).
    webhook_secret = models.CharField(max_length=80, default=new_flow_secret)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["store", "key"], name="flow_key_unique")]
        indexes = [
            models.Index(fields=["store", "trigger_event", "active"], name="flow_trigger_idx")
        ]

    def __str__(self) -> str:
        return self.name


class FlowVersion(models.Model):
    """One definition of a flow, as it was saved. Never edited: a change is a new version."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["flow", "number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flow_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("a flow version is immutable; save a new version instead")
        super().save(*args, **kwargs)


class Enrolment(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        EXITED = "exited", "Exited"

    public_id = PublicIdField("enr")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="enrolments")
    version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="enrolments")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What the enrolment is about, e.g. "ord_…" or "birthday:cus_…:2026": one per flow.
    subject_ref = models.CharField(max_length=160)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    exit_reason = models.CharField(max_length=200, blank=True, default="")
    branch = models.CharField(max_length=60, blank=True, default="")
    current_step = models.CharField(max_length=60, blank=True, default="")
    enrolled_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "subject_ref"], name="enrolment_subject_unique")
        ]
        indexes = [
            models.Index(fields=["store", "customer", "state"], name="enrolment_customer_idx"),
            models.Index(fields=["store", "order", "state"], name="enrolment_order_idx"),
            models.Index(fields=["flow", "state", "enrolled_at"], name="enrolment_flow_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} in {self.flow_id}"


class ScheduledStep(models.Model):
    """The next step of one enrolment, and the lease of the worker running it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=60)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    executed_at = models.DateTimeField(null=True, blank=True)
    # An until_event wait: the event it waits for, and the event that woke it (if one did).
    waiting_for = models.CharField(max_length=80, blank=True, default="")
    resumed_by = models.CharField(max_length=80, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            # No cycles in a flow, so a step runs at most once per enrolment.
            models.UniqueConstraint(fields=["enrolment", "step_id"], name="scheduled_step_unique")
        ]
        indexes = [
            # The claim's order (due_at, id) read straight off the index: with due_at alone,
            # PostgreSQL sorts every row due at the same moment before taking the first ones.
            models.Index(
                fields=["due_at", "id"],
                name="scheduled_step_due_id_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["lease_until"],
                name="scheduled_step_lease_idx",
                condition=Q(status="running"),
            ),
            models.Index(
                fields=["waiting_for", "enrolment"],
                name="scheduled_step_wait_idx",
                condition=Q(status="pending") & ~Q(waiting_for=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} at {self.due_at:%Y-%m-%d %H:%M}"


class StepRun(models.Model):
    """What one executed step did, for the flow's results."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="step_runs")
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="runs")
    step_id = models.CharField(max_length=60)
    outcome = models.CharField(max_length=30)
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["flow", "step_id", "outcome"], name="step_run_flow_idx")]

    def __str__(self) -> str:
        return f"{self.step_id}: {self.outcome}"


class DiscountPool(models.Model):
    """Codes the merchant uploaded (made in the shop platform), handed out one per enrolment."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="discount_pools")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=300, blank=True, default="")
    expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="discount_pool_key_unique")
        ]

    def __str__(self) -> str:
        return self.name


class DiscountCode(models.Model):
    """A code from a pool, or one generated for a flow; `issued_key` makes issuing idempotent."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    pool = models.ForeignKey(
        DiscountPool, on_delete=models.CASCADE, null=True, blank=True, related_name="codes"
    )
    code = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True, default="")
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.SET_NULL, null=True, blank=True, related_name="discounts"
    )
    issued_key = models.CharField(max_length=120, null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "code"], name="discount_code_unique"),
            models.UniqueConstraint(
                fields=["store", "issued_key"],
                condition=Q(issued_key__isnull=False),
                name="discount_code_issued_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["pool", "id"], name="discount_code_free_idx", condition=Q(issued_at=None)
            )
        ]

    def __str__(self) -> str:
        return self.code


class ScheduledScan(models.Model):
    """The last local day a daily trigger scan (birthdays, reorders …) ran for a store."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=60)
    last_day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "name"], name="scheduled_scan_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.last_day}"
