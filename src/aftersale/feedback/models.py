"""Surveys (NPS, CSAT, CES), the answers shoppers give from one-click links, and the cases that
follow an unhappy answer.

A survey is sent as a message (messaging.Message): the message IS the survey send, and an answer
belongs to exactly one message (a second click updates it). Each answer keeps a snapshot of what
it is about — order, parcel, carrier, lane, products, lateness, first or repeat customer — taken
when it was first given, so the reports cut by them without joining half the schema.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from aftersale.catalog.models import Product
from aftersale.core.fields import PublicIdField
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment


class SurveyType(models.TextChoices):
    NPS = "nps", "NPS (0–10)"
    CSAT = "csat", "CSAT (1–5)"
    CES = "ces", "CES (1–7)"


# (lowest, highest, default detractor ceiling, default promoter floor)
SCALES: dict[str, tuple[int, int, int, int]] = {
    SurveyType.NPS: (0, 10, 6, 9),
    SurveyType.CSAT: (1, 5, 2, 4),
    SurveyType.CES: (1, 7, 3, 6),
}


class Survey(models.Model):
    """A store's definition of one survey type (one per type, made on first use)."""

    public_id = PublicIdField("svy")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="surveys")
    type = models.CharField(max_length=4, choices=SurveyType.choices)
    # The store's own wording per locale ({"en": "…", "de": "…"}); empty: the built-in wording.
    question = models.JSONField(default=dict, blank=True)
    follow_up_low = models.JSONField(
        default=dict, blank=True, help_text="asked after a detractor score, per locale"
    )
    follow_up_mid = models.JSONField(
        default=dict, blank=True, help_text="asked after a passive score, per locale"
    )
    follow_up_high = models.JSONField(
        default=dict, blank=True, help_text="asked after a promoter score, per locale"
    )
    detractor_max = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="scores up to this open a case (empty: the default)"
    )
    promoter_min = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="scores from this count as promoters (empty: default)"
    )
    link_valid_days = models.PositiveSmallIntegerField(
        default=30, help_text="score links work this many days after the survey was sent"
    )
    alert_email = models.BooleanField(
        default=True, help_text="email the store's support address when a case opens"
    )
    case_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="new cases go to this staff user (else the store's first owner)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["store", "type"]
        constraints = [models.UniqueConstraint(fields=["store", "type"], name="survey_unique")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} survey"

    @property
    def low(self) -> int:
        return SCALES[self.type][0]

    @property
    def high(self) -> int:
        return SCALES[self.type][1]

    @property
    def detractor_ceiling(self) -> int:
        return SCALES[self.type][2] if self.detractor_max is None else self.detractor_max

    @property
    def promoter_floor(self) -> int:
        return SCALES[self.type][3] if self.promoter_min is None else self.promoter_min

    def band(self, score: int) -> str:
        if score <= self.detractor_ceiling:
            return "detractor"
        if score >= self.promoter_floor:
            return "promoter"
        return "passive"


class SurveyQuestion(models.Model):
    """An optional extra question on the comment page: free text or one choice of several."""

    class Kind(models.TextChoices):
        TEXT = "text", "Free text"
        CHOICE = "choice", "One choice"

    public_id = PublicIdField("sq")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.TEXT)
    # {"en": "…", "pt-br": "…", "de": "…"}
    label = models.JSONField(default=dict)
    # [{"value": "speed", "label": {"en": "Delivery speed", "de": "…"}}, …] for a choice.
    choices = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["survey", "position", "id"]

    def __str__(self) -> str:
        return self.label.get("en") or next(iter(self.label.values()), self.public_id)


class SurveyAnswer(models.Model):
    """One shopper's answer to one survey message, with a snapshot of what it was about."""

    class Band(models.TextChoices):
        DETRACTOR = "detractor", "Detractor"
        PASSIVE = "passive", "Passive"
        PROMOTER = "promoter", "Promoter"

    public_id = PublicIdField("ans")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="survey_answers")
    survey_type = models.CharField(max_length=4, choices=SurveyType.choices)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    score = models.SmallIntegerField()
    first_score = models.SmallIntegerField()
    band = models.CharField(max_length=9, choices=Band.choices)
    comment = models.TextField(blank=True, default="")
    # {question public id: answer text or choice value}
    extras = models.JSONField(default=dict, blank=True)
    locale = models.CharField(max_length=10, blank=True, default="")
    # What the answer is about: the message's order, parcel and customer at once; the rest of the
    # snapshot once, right after the first answer (services.answer_follow_up).
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    carrier = models.CharField(max_length=60, blank=True, default="")
    lane = models.CharField(max_length=120, blank=True, default="")
    product_ids = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True)
    # None: not known (no parcel delivered with a promise or an estimate).
    late = models.BooleanField(null=True, blank=True)
    days_late = models.SmallIntegerField(null=True, blank=True)
    first_order = models.BooleanField(null=True, blank=True)
    answered_at = models.DateTimeField()
    # answered_at's date in the store's time zone, so reports group by day without converting.
    answered_on = models.DateField()
    updated_at = models.DateTimeField()
    score_changes = models.PositiveSmallIntegerField(default=0)
    # When the snapshot below the score was taken (by the survey.answered subscriber).
    snapshot_at = models.DateTimeField(null=True, blank=True)
    commented_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-answered_at", "-id"]
        constraints = [
            # One answer per survey send: a second click updates it.
            models.UniqueConstraint(
                fields=["message"], condition=Q(message__isnull=False), name="answer_per_message"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "survey_type", "answered_at"], name="answer_report_idx"),
            models.Index(fields=["store", "customer", "answered_at"], name="answer_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey_type.upper()} {self.score}"


class AnswerProduct(models.Model):
    """A product of the answered order (snapshot): reports cut answers by product and category."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey(SurveyAnswer, on_delete=models.CASCADE, related_name="products")
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=300)
    category = models.CharField(max_length=200, blank=True, default="")
    # True on one row per (answer, category), so a category cut counts each answer once.
    first_of_category = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["answer", "title"], name="answer_product_unique")
        ]


class DetractorCase(models.Model):
    """The follow-up of an unhappy answer: who owns it and how it ended."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CONTACTED = "contacted", "Contacted"
        RECOVERED = "recovered", "Recovered"
        LOST = "lost", "Lost"

    class Reason(models.TextChoices):
        ORDERED_AGAIN = "ordered_again", "Ordered again"
        RESCORED = "rescored", "Scored higher"
        STAFF = "staff", "Set by staff"

    OPEN_STATES = (State.OPEN, State.CONTACTED)

    public_id = PublicIdField("dtc")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="detractor_cases")
    answer = models.OneToOneField(SurveyAnswer, on_delete=models.CASCADE, related_name="case")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="detractor_cases",
    )
    state = models.CharField(max_length=9, choices=State.choices, default=State.OPEN)
    closed_reason = models.CharField(max_length=13, choices=Reason.choices, blank=True, default="")
    recovery_order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField()
    contacted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["store", "state", "opened_at"], name="case_state_idx"),
            models.Index(fields=["store", "customer", "state"], name="case_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"Case {self.public_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class CaseEntry(models.Model):
    """The case's history: opened, assigned, contacted, a note, recovered …"""

    case = models.ForeignKey(DetractorCase, on_delete=models.CASCADE, related_name="entries")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20)
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "case entries"

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"
