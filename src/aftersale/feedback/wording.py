"""The built-in words of the surveys (questions, scale labels, follow-ups), translated with Django
i18n; a store may replace the question and follow-ups per locale on its Survey."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext, pgettext

from aftersale.feedback.models import SCALES, Survey, SurveyType
from aftersale.messaging.locales import normalize_locale


def questions() -> dict[str, str]:
    return {
        SurveyType.NPS: gettext("How likely are you to recommend %(store)s to a friend?"),
        SurveyType.CSAT: gettext("How satisfied are you with your order from %(store)s?"),
        SurveyType.CES: gettext("How easy was it to sort out your return with %(store)s?"),
    }


def follow_ups() -> dict[str, dict[str, str]]:
    return {
        SurveyType.NPS: {
            "detractor": gettext("We are sorry. What went wrong?"),
            "passive": gettext("What would have made it a 10?"),
            "promoter": gettext("Great to hear! What did you like most?"),
        },
        SurveyType.CSAT: {
            "detractor": gettext("We are sorry. What went wrong?"),
            "passive": gettext("What could we have done better?"),
            "promoter": gettext("Great to hear! What did you like most?"),
        },
        SurveyType.CES: {
            "detractor": gettext("What made it difficult?"),
            "passive": gettext("What would have made it easier?"),
            "promoter": gettext("Good to hear. What worked well?"),
        },
    }


def end_labels() -> dict[str, tuple[str, str]]:
    """The words under each end of the scale."""
    return {
        SurveyType.NPS: (gettext("Not at all likely"), gettext("Extremely likely")),
        SurveyType.CSAT: (gettext("Very unsatisfied"), gettext("Very satisfied")),
        SurveyType.CES: (gettext("Very difficult"), gettext("Very easy")),
    }


def _point_names(survey_type: str) -> dict[int, str]:
    if survey_type == SurveyType.CSAT:
        return {
            1: gettext("Very unsatisfied"),
            2: gettext("Unsatisfied"),
            3: gettext("Neutral"),
            4: gettext("Satisfied"),
            5: gettext("Very satisfied"),
        }
    if survey_type == SurveyType.CES:
        return {
            1: gettext("Very difficult"),
            2: gettext("Difficult"),
            3: gettext("Somewhat difficult"),
            4: gettext("Neither easy nor difficult"),
            5: gettext("Somewhat easy"),
            6: gettext("Easy"),
            7: gettext("Very easy"),
        }
    low, high = end_labels()[SurveyType.NPS]
    return {0: low, 10: high}


def score_label(survey_type: str, value: int) -> str:
    """What a screen reader says for one score link: "7 of 10", "4 – Satisfied"."""
    high = SCALES[survey_type][1]
    name = _point_names(survey_type).get(value)
    if survey_type == SurveyType.NPS:
        out_of = pgettext("score", "%(value)s of %(high)s") % {"value": value, "high": high}
        return f"{out_of} – {name}" if name else out_of
    return f"{value} – {name}" if name else str(value)


def _pick(custom: dict, locale: str) -> str:
    if not custom:
        return ""
    return custom.get(locale) or ""


def question_text(survey: Survey, locale: str, store_name: str) -> str:
    locale = normalize_locale(locale)
    with translation.override(locale):
        text = _pick(survey.question, locale) or questions()[survey.type]
    try:
        return text % {"store": store_name}
    except (KeyError, ValueError, TypeError):
        return text


def follow_up_text(survey: Survey, band: str, locale: str) -> str:
    locale = normalize_locale(locale)
    custom = {
        "detractor": survey.follow_up_low,
        "passive": survey.follow_up_mid,
        "promoter": survey.follow_up_high,
    }[band]
    with translation.override(locale):
        return _pick(custom, locale) or follow_ups()[survey.type][band]


def scale(survey_type: str, locale: str) -> list[dict]:
    low, high = SCALES[survey_type][:2]
    with translation.override(normalize_locale(locale)):
        return [{"value": v, "label": score_label(survey_type, v)} for v in range(low, high + 1)]


def ends(survey_type: str, locale: str) -> tuple[str, str]:
    with translation.override(normalize_locale(locale)):
        return end_labels()[survey_type]


def extra_label(question, locale: str) -> str:
    locale = normalize_locale(locale)
    return question.label.get(locale) or question.label.get("en") or ""


def choice_label(choice: dict, locale: str) -> str:
    labels = choice.get("label") or {}
    if isinstance(labels, str):
        return labels
    return labels.get(normalize_locale(locale)) or labels.get("en") or str(choice.get("value"))
