"""Back-office pages of feedback under /admin/feedback/desk/: the report (scores over time and by
carrier, lane, product, category, late, first or repeat customer; response rates; themes; cases;
delivery delay against review rating) and the detractor cases (list, detail, assign, move along).

Staff only and store-scoped: a staff user sees the stores they belong to; naming another store is
a 404 and a change to another store's case changes nothing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.core.tenancy import backoffice_page, stores_for_user, stores_in_scope
from aftersale.feedback import reports
from aftersale.feedback.models import DetractorCase, SurveyQuestion
from aftersale.feedback.selectors import case_detail, case_list
from aftersale.feedback.services import CASE_MOVES, case_update
from aftersale.feedback.wording import choice_label

PERIODS = [
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("365", "Last 12 months"),
    ("all", "All time"),
]
DIMENSION_TITLES = {
    "carrier": "Carrier",
    "lane": "Lane",
    "product": "Product",
    "category": "Category",
    "late": "Late vs on time",
    "customer": "First vs repeat customer",
}
TYPE_TITLES = {"nps": "NPS", "csat": "CSAT %", "ces": "CES (mean, 1–7)"}


def _my_store(request, slug: str) -> Store:
    stores = stores_for_user(request.user).order_by("name")
    store = stores.filter(slug=slug).first() if slug else stores.first()
    if store is None:
        raise Http404("no such store")
    return store


class ReportFilter(forms.Form):
    store = forms.CharField(required=False, max_length=100)
    period = forms.ChoiceField(required=False, choices=PERIODS)
    granularity = forms.ChoiceField(
        required=False, choices=[("week", "By week"), ("month", "By month")]
    )


def period_bounds(period: str, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    if period == "all":
        return None, None
    days = int(period) if period.isdigit() else 90
    return now - dt.timedelta(days=days), None


def _fmt(survey_type: str, row: dict | None) -> str:
    if not row or row.get("value") is None:
        return "–"
    if survey_type == "nps":
        return f"{row['value']:+.0f}"
    if survey_type == "csat":
        return f"{row['value']:.0f}%"
    return f"{row['value']:.2f}"


def _rows(survey_type: str, rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        interval = ""
        if survey_type == "nps" and row.get("ci_low") is not None:
            interval = f"{row['ci_low']:+.0f} … {row['ci_high']:+.0f}"
        out.append({**row, "shown": _fmt(survey_type, row), "interval": interval})
    return out


@staff_member_required
@require_GET
def report(request):
    form = ReportFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    store = _my_store(request, data.get("store", ""))
    period = data.get("period") or "90"
    granularity = data.get("granularity") or "week"
    since, until = period_bounds(period, clock.now())
    result = reports.feedback_report(store=store, since=since, until=until, granularity=granularity)
    sections = []
    for survey_type in reports.TYPES:
        head = result["summary"][survey_type]
        sections.append(
            {
                "type": survey_type,
                "title": TYPE_TITLES[survey_type],
                "summary": _rows(survey_type, [head])[0],
                "rate": result["response_rates"][survey_type],
                "over_time": _rows(survey_type, result["over_time"][survey_type]),
                "cuts": [
                    {
                        "title": DIMENSION_TITLES[dimension],
                        "rows": _rows(survey_type, result["cuts"][dimension][survey_type]),
                    }
                    for dimension in reports.DIMENSIONS
                ],
            }
        )
    delay = result["delay_vs_rating"]
    peak = max((b["reviews"] for b in delay["buckets"]), default=0)
    for bucket in delay["buckets"]:
        bucket["bar"] = round(100 * bucket["reviews"] / peak) if peak else 0
        bucket["avg_bar"] = round(100 * (bucket["average"] or 0) / 5)
    return backoffice_page(
        request,
        "feedback/backoffice/report.html",
        {
            "title": "Customer feedback",
            "form": form,
            "store": store,
            "stores": stores_for_user(request.user).order_by("name"),
            "period": period,
            "granularity": granularity,
            "sections": sections,
            "themes": result["themes"],
            "cases": result["cases"],
            "delay": delay,
            "cases_url": reverse("feedback_backoffice:cases") + f"?store={store.slug}",
        },
    )


# -- cases ------------------------------------------------------------------------------------


class CaseFilter(forms.Form):
    store = forms.CharField(required=False, max_length=100)
    state = forms.ChoiceField(
        required=False,
        choices=[("open", "Open or contacted"), *DetractorCase.State.choices, ("all", "All")],
    )
    mine = forms.BooleanField(required=False)


@staff_member_required
@require_GET
def cases(request):
    form = CaseFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    stores = stores_in_scope(request.user, data.get("store", ""))
    state = data.get("state") or "open"
    found = case_list(
        stores=stores, state=state, owner_id=request.user.pk if data.get("mine") else None
    )
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    now = clock.now()
    rows = [
        {
            "case": case,
            "age": (now - case.opened_at).days,
            "url": reverse("feedback_backoffice:case", args=[case.public_id]),
        }
        for case in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return backoffice_page(
        request,
        "feedback/backoffice/cases.html",
        {
            "title": "Detractor cases",
            "form": form,
            "rows": rows,
            "page": page,
            "query": query.urlencode(),
            "state": state,
            "stores": stores_for_user(request.user).order_by("name"),
        },
    )


def _local(value: dt.datetime | None, zone: str) -> str:
    if value is None:
        return ""
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


ACTIONS = [
    ("contacted", "Mark contacted"),
    ("recovered", "Mark recovered"),
    ("lost", "Mark lost"),
    ("reopen", "Reopen"),
]


@staff_member_required
@require_http_methods(["GET", "POST"])
def case(request, public_id: str):
    stores = stores_for_user(request.user)
    bundle = case_detail(stores=stores, public_id=public_id)
    if bundle is None:
        raise Http404("no such case")
    the_case = bundle.case
    if request.method == "POST":
        action = request.POST.get("action", "")
        owner = request.POST.get("owner", "")
        try:
            case_update(
                store=the_case.store,
                case_id=the_case.public_id,
                action=action,
                actor=request.user,
                owner_id=int(owner) if owner.isdigit() else None,
                note=request.POST.get("note", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Saved.")
        return HttpResponseRedirect(request.path)
    zone = the_case.store.time_zone
    staff = (
        get_user_model()
        .objects.filter(
            Q(store_memberships__store=the_case.store) | Q(pk=the_case.owner_id),
            is_active=True,
            is_staff=True,
        )
        .distinct()
        .order_by("username")
    )
    answer = the_case.answer
    labels = {
        q.public_id: (q.label.get("en") or next(iter(q.label.values()), q.public_id), q)
        for q in SurveyQuestion.objects.filter(store=the_case.store, public_id__in=answer.extras)
    }
    extras = []
    for key, value in (answer.extras or {}).items():
        label, question = labels.get(key, (key, None))
        if question is not None and question.kind == SurveyQuestion.Kind.CHOICE:
            choice = next((c for c in question.choices if str(c.get("value")) == value), None)
            if choice is not None:
                value = choice_label(choice, "en")
        extras.append((label, value))
    return backoffice_page(
        request,
        "feedback/backoffice/case.html",
        {
            "title": f"Detractor case {the_case.public_id}",
            "case": the_case,
            "answer": answer,
            "extras": extras,
            "bundle": bundle,
            "answered_at": _local(answer.answered_at, zone),
            "opened_at": _local(the_case.opened_at, zone),
            "entries": [(e, _local(e.at, zone)) for e in bundle.entries],
            "messages_sent": [
                (m, _local(m.sent_at or m.created_at, zone)) for m in bundle.messages
            ],
            "shipments": bundle.shipments,
            "answers": [(a, _local(a.answered_at, zone)) for a in bundle.answers],
            "staff": staff,
            "actions": [
                (code, label) for code, label in ACTIONS if the_case.state in CASE_MOVES[code][0]
            ],
            "zone": zone,
            "order_url": reverse("admin:orders_order_change", args=[the_case.order_id])
            if the_case.order_id
            else "",
        },
    )
