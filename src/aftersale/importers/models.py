from __future__ import annotations

from django.db import models

from aftersale.core.models import Store
from aftersale.orders.models import Order


class ImportRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="import_runs")
    source = models.CharField(max_length=20)
    location = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict)
    problems = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} import {self.started_at:%Y-%m-%d %H:%M}"


class ImportedReview(models.Model):
    """A product review that came with imported history (kept for the feedback feature).

    Imported reviews are never "verified buyer" reviews: we did not ask for them ourselves.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=20)
    external_id = models.CharField(max_length=100)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="imported_reviews")
    score = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=300, blank=True, default="")
    text = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "external_id"], name="imported_review_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(score__gte=1, score__lte=5), name="imported_review_score_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.score}★ {self.title or self.text[:40]}"
