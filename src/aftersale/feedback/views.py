"""The shopper's survey pages: the one-click score link and the comment page behind it.

GET /f/<score token>: records the score (idempotently: the same click twice writes nothing) and
redirects (303) to the page, where the score can be changed and the follow-up and extra questions
answered with a plain form POST — no JavaScript needed. HEAD requests and browser prefetches
record nothing: they are sent on to the page with the score preselected. A forged or tampered link
(404), an expired one (410) and a score off the scale (400) get a friendly page, never a change.
"""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from aftersale.core import clock
from aftersale.core.services import DomainError
from aftersale.feedback import selectors, tokens, wording
from aftersale.feedback.models import Survey, SurveyQuestion
from aftersale.feedback.selectors import KIND_SURVEY
from aftersale.feedback.services import (
    Submission,
    answer_click,
    answer_submit,
    link_expires_at,
)
from aftersale.messaging.locales import normalize_locale
from aftersale.tracking.pages import palette

PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")


def _language(request, message=None) -> str:
    if message is not None:
        return normalize_locale(message.locale or message.store.default_locale)
    return normalize_locale(request.GET.get("lang") or getattr(request, "LANGUAGE_CODE", ""))


def _render(request, template: str, context: dict, *, language: str, store=None, status=200):
    colours = palette(store.brand_color, store.accent_color) if store else palette()
    with translation.override(language):
        response = render(
            request,
            template,
            {"lang": language, "store": store, "palette": colours, **context},
            status=status,
        )
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "same-origin"
    return response


def _problem(request, kind: str, *, message=None, status: int):
    store = message.store if message is not None else None
    return _render(
        request,
        "feedback/problem.html",
        {"problem": kind},
        language=_language(request, message),
        store=store,
        status=status,
    )


def _load(message_id: str | None):
    """(message, survey) for a page link's message id, or (None, None)."""
    if not message_id:
        return None, None
    message = selectors.survey_message(message_id)
    if message is None or message.kind not in KIND_SURVEY:
        return None, None
    return message, selectors.survey_settings(message.store, KIND_SURVEY[message.kind])


def _is_prefetch(request) -> bool:
    return request.method == "HEAD" or any(
        "prefetch" in request.META.get(h, "").lower() for h in PREFETCH_HEADERS
    )


@require_http_methods(["GET", "HEAD"])
def score(request, token: str):
    decoded = tokens.read_score_token(token)
    target = selectors.click_target(decoded[0]) if decoded else None
    if target is None or decoded is None:
        return _problem(request, "invalid", status=404)
    value = decoded[1]
    now = clock.now()
    expired = now > target.expires_at
    if expired or not target.low <= value <= target.high:
        # The page speaks the shopper's language and shows the store: load it fully.
        full = selectors.survey_message(target.public_id)
        kind, status = ("expired", 410) if expired else ("scale", 400)
        return _problem(request, kind, message=full, status=status)
    page = tokens.page_path(target.public_id)
    if _is_prefetch(request):
        return HttpResponseRedirect(f"{page}?score={value}", status=303)
    if target.current is None or target.current[1] != value:
        # (The same score again writes nothing.)
        message, survey = target.build()
        try:
            answer_click(
                message=message, survey=survey, score=value, current=target.current, now=now
            )
        except DomainError:
            return _problem(request, "scale", status=400)
    response = HttpResponseRedirect(f"{page}?recorded=1", status=303)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@require_http_methods(["GET", "POST"])
def page(request, token: str):
    message, survey = _load(tokens.read_page_token(token))
    if message is None:
        return _problem(request, "invalid", status=404)
    now = clock.now()
    if now > link_expires_at(survey, message):
        return _problem(request, "expired", message=message, status=410)
    language = _language(request, message)
    questions = selectors.active_questions(survey)
    answer = selectors.answer_of(message)
    error, error_field, status = "", "", 200
    form: dict = {}
    if request.method == "POST":
        form = {
            "score": _int(request.POST.get("score")),
            "comment": request.POST.get("comment", "").strip(),
            "extras": {
                q.public_id: request.POST.get(f"q-{q.public_id}", "").strip() for q in questions
            },
        }
        with translation.override(language):
            if form["score"] is None:
                error, error_field = gettext("Please choose a score."), "score"
            else:
                try:
                    answer_submit(
                        store=message.store,
                        message=message,
                        submission=Submission(
                            score=form["score"],
                            comment=form["comment"],
                            extras={k: v for k, v in form["extras"].items() if v},
                        ),
                        now=now,
                        survey=survey,
                    )
                    return HttpResponseRedirect(f"{request.path}?thanks=1", status=303)
                except DomainError as exc:
                    error_field = exc.field or ""
                    error = _error_text(exc, survey)
        status = 422
    selected = form.get("score") if form else None
    if selected is None and answer is not None:
        selected = answer.score
    if selected is None:
        selected = _int(request.GET.get("score"))
    if selected is not None and not survey.low <= selected <= survey.high:
        selected = None
    return _render(
        request,
        "feedback/survey.html",
        _page_context(
            survey,
            message,
            answer,
            questions,
            language,
            selected,
            form,
            error,
            error_field,
            thanks=request.GET.get("thanks") == "1" and answer is not None,
            recorded=request.GET.get("recorded") == "1" and answer is not None,
        ),
        language=language,
        store=message.store,
        status=status,
    )


def _error_text(exc: DomainError, survey: Survey) -> str:
    if exc.field == "score":
        return gettext("Please choose a score from %(low)s to %(high)s.") % {
            "low": survey.low,
            "high": survey.high,
        }
    if exc.field == "comment":
        return gettext("Your comment is too long. Please shorten it.")
    if exc.field == "token":
        return gettext("This survey has closed.")
    return gettext("Please check your answer to this question.")


def _page_context(
    survey,
    message,
    answer,
    questions,
    language,
    selected,
    form,
    error,
    error_field,
    *,
    thanks,
    recorded,
) -> dict:
    with translation.override(language):
        band = survey.band(selected) if selected is not None else ""
        follow = {
            b: wording.follow_up_text(survey, b, language)
            for b in ("detractor", "passive", "promoter")
        }
        low, high = wording.ends(survey.type, language)
        points = [
            {**p, "band": survey.band(p["value"]), "checked": p["value"] == selected}
            for p in wording.scale(survey.type, language)
        ]
        extras = (form or {}).get("extras") or (answer.extras if answer else {})
        rows = []
        for q in questions:
            rows.append(
                {
                    "id": q.public_id,
                    "label": wording.extra_label(q, language),
                    "kind": q.kind,
                    "value": extras.get(q.public_id, ""),
                    "choices": [
                        {"value": str(c.get("value")), "label": wording.choice_label(c, language)}
                        for c in q.choices
                    ]
                    if q.kind == SurveyQuestion.Kind.CHOICE
                    else [],
                    "error": error_field == q.public_id,
                }
            )
        comment = form["comment"] if form else (answer.comment if answer else "")
        return {
            "survey": survey,
            "question": wording.question_text(survey, language, message.store.name),
            "points": points,
            "count": len(points),
            "low_label": low,
            "high_label": high,
            "band": band,
            "follow_up": follow.get(band) or gettext("Anything you would like to add?"),
            "follow_ups": follow,
            "generic_follow_up": gettext("Anything you would like to add?"),
            "comment": comment,
            "questions": rows,
            "answer": answer,
            "order": message.order,
            "error": error,
            "error_field": error_field,
            "thanks": thanks,
            "recorded": recorded,
        }
