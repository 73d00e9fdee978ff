"""Reads of the feedback app, scoped to a store; and what flows may ask about a shopper's answers
(JOURNEY_FIELDS) and start on (JOURNEY_TRIGGERS), discovered by journeys at start."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.feedback.models import (
    SCALES,
    CaseEntry,
    DetractorCase,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
)
from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment

# Which survey a message kind asks (feedback_request is the store's general "how did we do").
KIND_SURVEY = {
    "survey_nps": "nps",
    "survey_csat": "csat",
    "survey_ces": "ces",
    "feedback_request": "nps",
}

# -- flows ----------------------------------------------------------------------------------

JOURNEY_TRIGGERS = {
    "survey.answered": "a shopper answered a survey (or changed the score)",
    "survey.detractor": "an unhappy survey answer opened a detractor case",
}


def _last_answer(facts: Any) -> SurveyAnswer | None:
    key = "feedback.last_answer"
    if key not in facts.cache:
        answers = SurveyAnswer.objects.filter(store=facts.store, answered_at__lte=facts.now)
        if facts.customer is not None:
            answers = answers.filter(customer=facts.customer)
        elif facts.order is not None:
            answers = answers.filter(order=facts.order)
        else:
            answers = answers.none()
        facts.cache[key] = answers.order_by("-answered_at", "-id").first()
    return facts.cache[key]


def _last_score(facts: Any) -> int | None:
    answer = _last_answer(facts)
    return answer.score if answer else None


def _last_type(facts: Any) -> str | None:
    answer = _last_answer(facts)
    return answer.survey_type if answer else None


def _last_band(facts: Any) -> str | None:
    answer = _last_answer(facts)
    return answer.band if answer else None


def _is_promoter(facts: Any) -> bool:
    answer = _last_answer(facts)
    return bool(answer and answer.band == SurveyAnswer.Band.PROMOTER)


def _has_open_case(facts: Any) -> bool:
    if facts.customer is None:
        return False
    return DetractorCase.objects.filter(
        store=facts.store, customer=facts.customer, state__in=DetractorCase.OPEN_STATES
    ).exists()


JOURNEY_FIELDS = {
    "survey.last_score": _last_score,
    "survey.last_type": _last_type,
    "survey.last_band": _last_band,
    "customer.is_promoter": _is_promoter,
    "customer.has_open_detractor_case": _has_open_case,
}


# -- pages ----------------------------------------------------------------------------------


def survey_message(public_id: str) -> Message | None:
    """The survey message a link names, with what the page and the snapshot need."""
    return (
        Message.objects.select_related("store", "customer", "order", "shipment")
        .filter(public_id=public_id)
        .first()
    )


_CLICK_SQL = """
SELECT m.id, m.store_id, st.time_zone, m.kind, m.locale,
       COALESCE(m.sent_at, m.due_at, m.created_at),
       m.order_id, o.public_id, m.customer_id, c.public_id, m.shipment_id, s.public_id,
       sv.id, sv.link_valid_days, sv.detractor_max, sv.promoter_min, a.public_id, a.score
FROM {message} m
JOIN {store} st ON st.id = m.store_id
LEFT JOIN {order} o ON o.id = m.order_id
LEFT JOIN {customer} c ON c.id = m.customer_id
LEFT JOIN {shipment} s ON s.id = m.shipment_id
LEFT JOIN {survey} sv ON sv.store_id = m.store_id AND sv.type = CASE m.kind {kinds} END
LEFT JOIN {answer} a ON a.message_id = m.id
WHERE m.public_id = %s AND m.kind IN ({placeholders})
"""


@cache
def _click_sql() -> str:
    return _CLICK_SQL.format(
        message=Message._meta.db_table,
        store=Store._meta.db_table,
        order=Order._meta.db_table,
        customer=Customer._meta.db_table,
        shipment=Shipment._meta.db_table,
        survey=Survey._meta.db_table,
        answer=SurveyAnswer._meta.db_table,
        kinds=" ".join(f"WHEN '{k}' THEN '{t}'" for k, t in KIND_SURVEY.items()),
        placeholders=", ".join(["%s"] * len(KIND_SURVEY)),
    )


def _aware(value):
    if isinstance(value, str):  # SQLite returns text for raw queries
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


@dataclass
class ClickTarget:
    """One row: a survey message, the store's survey settings and the current answer."""

    message_pk: int
    public_id: str
    store_id: int
    time_zone: str
    kind: str
    locale: str
    sent_at: dt.datetime
    order: tuple[int, str] | None
    customer: tuple[int, str] | None
    shipment: tuple[int, str] | None
    survey_id: int | None
    link_valid_days: int
    detractor_max: int | None
    promoter_min: int | None
    current: tuple[str, int] | None  # the answer's public id and score, if answered

    @property
    def survey_type(self) -> str:
        return KIND_SURVEY[self.kind]

    @property
    def low(self) -> int:
        return SCALES[self.survey_type][0]

    @property
    def high(self) -> int:
        return SCALES[self.survey_type][1]

    @property
    def expires_at(self) -> dt.datetime:
        return self.sent_at + dt.timedelta(days=self.link_valid_days)

    def build(self) -> tuple[Message, Survey]:
        """Partial objects, enough to record an answer (services.answer_click)."""
        store = Store(id=self.store_id, time_zone=self.time_zone)
        message = Message(
            id=self.message_pk,
            public_id=self.public_id,
            store=store,
            kind=self.kind,
            locale=self.locale,
            sent_at=self.sent_at,
        )
        if self.order:
            message.order = Order(id=self.order[0], public_id=self.order[1], store_id=store.pk)
        if self.customer:
            message.customer = Customer(
                id=self.customer[0], public_id=self.customer[1], store_id=store.pk
            )
        if self.shipment:
            message.shipment = Shipment(
                id=self.shipment[0], public_id=self.shipment[1], store_id=store.pk
            )
        survey = Survey(
            id=self.survey_id,
            store=store,
            type=self.survey_type,
            link_valid_days=self.link_valid_days,
            detractor_max=self.detractor_max,
            promoter_min=self.promoter_min,
        )
        return message, survey


def click_target(public_id: str) -> ClickTarget | None:
    """What the one-click endpoint needs, in one hand-written query (it runs on every click, and
    the ORM's compile step costs more than the query): the message with the public ids of its
    order, customer and parcel, the store's survey settings (defaults when it has none) and the
    current answer. Objects are built only when something is written."""
    with connection.cursor() as cursor:
        cursor.execute(_click_sql(), [public_id, *KIND_SURVEY])
        row = cursor.fetchone()
    if row is None:
        return None
    (pk, store_id, time_zone, kind, locale, sent_at, order_id, order_ref, customer_id,
     customer_ref, shipment_id, shipment_ref, survey_id, valid_days, detractor_max,
     promoter_min, answer_ref, score) = row  # fmt: skip
    return ClickTarget(
        message_pk=pk,
        public_id=public_id,
        store_id=store_id,
        time_zone=time_zone,
        kind=kind,
        locale=locale,
        sent_at=_aware(sent_at),
        order=(order_id, order_ref) if order_id else None,
        customer=(customer_id, customer_ref) if customer_id else None,
        shipment=(shipment_id, shipment_ref) if shipment_id else None,
        survey_id=survey_id,
        link_valid_days=30 if survey_id is None else valid_days,
        detractor_max=detractor_max,
        promoter_min=promoter_min,
        current=(answer_ref, score) if answer_ref else None,
    )


def survey_settings(store: Store, survey_type: str) -> Survey:
    """The store's survey of this type, or the defaults (unsaved) when it has none: reading a
    survey never writes one."""
    survey = Survey.objects.filter(store=store, type=survey_type).first()
    return survey or Survey(store=store, type=survey_type)


def active_questions(survey: Survey) -> list:
    if survey.pk is None:
        return []
    return list(SurveyQuestion.objects.filter(survey_id=survey.pk, active=True))


def answer_of(message: Message) -> SurveyAnswer | None:
    return SurveyAnswer.objects.filter(message=message).first()


# -- back office ----------------------------------------------------------------------------


def case_list(
    *, stores: QuerySet[Store], state: str = "open", owner_id: int | None = None
) -> QuerySet[DetractorCase]:
    qs = DetractorCase.objects.filter(store__in=stores).select_related(
        "store", "answer", "order", "customer", "owner"
    )
    if state == "open":
        qs = qs.filter(state__in=DetractorCase.OPEN_STATES)
    elif state in DetractorCase.State.values:
        qs = qs.filter(state=state)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    return qs.order_by("-opened_at", "-id")


@dataclass
class CaseBundle:
    case: DetractorCase
    entries: list[CaseEntry]
    messages: list[Message]
    shipments: list[Shipment]
    answers: list[SurveyAnswer]


def case_detail(*, stores: QuerySet[Store], public_id: str) -> CaseBundle | None:
    """The case with the order's history: messages sent, parcels, the shopper's other answers."""
    case = (
        DetractorCase.objects.filter(store__in=stores, public_id=public_id)
        .select_related("store", "answer", "answer__message", "order", "customer", "owner")
        .first()
    )
    if case is None:
        return None
    entries = list(case.entries.select_related("actor"))
    messages: list[Message] = []
    shipments: list[Shipment] = []
    if case.order_id:
        messages = list(
            Message.objects.filter(store=case.store, order_id=case.order_id).order_by("created_at")
        )
        shipments = list(
            Shipment.objects.filter(store=case.store, order_id=case.order_id).order_by("id")
        )
    answers = []
    if case.customer_id:
        answers = list(
            SurveyAnswer.objects.filter(store=case.store, customer_id=case.customer_id)
            .exclude(pk=case.answer_id)
            .order_by("-answered_at")[:20]
        )
    return CaseBundle(case, entries, messages, shipments, answers)
