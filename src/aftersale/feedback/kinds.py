"""The messages of the feedback app: the three surveys (the send IS the survey: its score links
sign the message's id), the alert to the merchant when a detractor case opens, and the context
the older `feedback_request` kind gets so its link leads to the survey page."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from django.conf import settings
from django.urls import reverse

from aftersale.feedback import tokens, wording
from aftersale.feedback.models import DetractorCase, Survey, SurveyType
from aftersale.messaging.kinds import MessageKind, get_kind, register_kind
from aftersale.messaging.models import Category


def _survey_of(message, survey_type: str) -> Survey:
    # Read only: the back-office preview must not write, and a missing row means the defaults.
    survey = Survey.objects.filter(store_id=message.store_id, type=survey_type).first()
    return survey or Survey(store_id=message.store_id, type=survey_type)


def survey_context_for(survey_type: str):
    def context(message) -> dict:
        survey = _survey_of(message, survey_type)
        locale = message.locale or message.store.default_locale
        low, high = wording.ends(survey_type, locale)
        page = tokens.page_url(message.public_id)
        return {
            "survey": {
                "type": survey_type,
                "question": wording.question_text(survey, locale, message.store.name),
                "low_label": low,
                "high_label": high,
                "url": page,
                "scores": [
                    {**point, "url": tokens.score_url(message.public_id, point["value"])}
                    for point in wording.scale(survey_type, locale)
                ],
            },
            "links": {"survey_url": page, "feedback_url": page},
        }

    return context


SURVEY_NPS = register_kind(
    MessageKind(
        "survey_nps",
        "NPS survey",
        Category.FEEDBACK,
        priority=50,
        expires_after=timedelta(days=7),
        about="order",
        context=survey_context_for(SurveyType.NPS),
    )
)
SURVEY_CSAT = register_kind(
    MessageKind(
        "survey_csat",
        "CSAT survey",
        Category.FEEDBACK,
        priority=55,
        expires_after=timedelta(days=5),
        about="shipment",
        context=survey_context_for(SurveyType.CSAT),
    )
)
SURVEY_CES = register_kind(
    MessageKind(
        "survey_ces",
        "CES survey",
        Category.FEEDBACK,
        priority=60,
        expires_after=timedelta(days=3),
        about="order",
        context=survey_context_for(SurveyType.CES),
    )
)

# The general "how did we do" request now leads to the NPS page (and can show the scale too).
register_kind(
    dataclasses.replace(get_kind("feedback_request"), context=survey_context_for(SurveyType.NPS))
)


def _alert_context(message) -> dict:
    case_id = (message.context or {}).get("case_id", "")
    case = (
        DetractorCase.objects.select_related("answer", "order", "customer")
        .filter(store_id=message.store_id, public_id=case_id)
        .first()
        if case_id
        else None
    )
    if case is None:  # the back-office preview: a realistic sample
        return {
            "case": {
                "id": "dtc_sample",
                "survey": "NPS",
                "score": 3,
                "comment": "The parcel arrived a week late and nobody answered my emails.",
                "order_number": "#1042",
                "customer_name": "Ana Souza",
                "customer_email": "ana@example.com",
                "carrier": "DHL",
                "late": True,
                "url": settings.PUBLIC_BASE_URL + "/admin/feedback/desk/cases/",
            }
        }
    answer = case.answer
    customer = case.customer
    return {
        "case": {
            "id": case.public_id,
            "survey": answer.survey_type.upper(),
            "score": answer.score,
            "comment": answer.comment,
            "order_number": case.order.number if case.order else "",
            "customer_name": customer.full_name if customer else "",
            "customer_email": customer.email if customer else "",
            "carrier": answer.carrier,
            "late": bool(answer.late),
            "url": settings.PUBLIC_BASE_URL
            + reverse("feedback_backoffice:case", args=[case.public_id]),
        }
    }


DETRACTOR_ALERT = register_kind(
    MessageKind(
        "detractor_alert",
        "Detractor alert (to the store)",
        Category.TRANSACTIONAL,
        priority=70,
        about="customer",
        ignores_quiet_hours=True,
        context=_alert_context,
    )
)
