"""Back-office pages for flows: what each flow did (results.py computes; these pages only show).

Staff only, and store-scoped: a staff user sees the flows of the stores they belong to, and any
other flow is a 404, as if it did not exist. Dates in the form are days in the back office's
time zone (the one the admin shows every time in); they select enrolments by `enrolled_at`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.views.decorators.http import require_GET

from aftersale.core import clock
from aftersale.core.money import format_money
from aftersale.core.tenancy import backoffice_page, stores_for_user
from aftersale.journeys import results as selectors
from aftersale.journeys.models import Flow

MAX_ATTRIBUTION_DAYS = 90


class RangeForm(forms.Form):
    start = forms.DateField(
        label="Enrolled from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="to (inclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    attribution_days = forms.IntegerField(
        label="Attribution window (days)",
        required=False,
        min_value=1,
        max_value=MAX_ATTRIBUTION_DAYS,
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


def _period(request, zone) -> tuple[RangeForm, selectors.Period, dt.date, dt.date]:
    """The period the GET form asks for, in days of the store's time zone; the default (or an
    invalid form) is the last 90 days."""
    form = RangeForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    today = timezone.localdate(clock.now(), zone)
    end_day = data.get("end") or today
    start_day = data.get("start") or end_day - dt.timedelta(days=selectors.DEFAULT_RANGE_DAYS - 1)
    period = selectors.Period(
        start=dt.datetime.combine(start_day, dt.time.min, tzinfo=zone),
        end=dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        attribution_days=data.get("attribution_days") or settings.AFTERSALE_ATTRIBUTION_DAYS,
    )
    return form, period, start_day, end_day


def _locale() -> str:
    return translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)


def _money(conversions: selectors.Conversions, locale: str) -> list[str]:
    return [
        format_money(amount, currency, locale)
        for currency, amount in sorted(conversions.revenue.items())
    ]


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


@staff_member_required
@require_GET
def flow_results(request, public_id: str):
    flow = get_object_or_404(
        Flow.objects.select_related("store", "current_version"),
        public_id=public_id,
        store__in=stores_for_user(request.user),
    )
    zone = ZoneInfo(flow.store.time_zone)
    form, period, start_day, end_day = _period(request, zone)
    found = selectors.flow_results(flow=flow, period=period)
    locale = _locale()

    steps = []
    suppressions = []
    for step in found.steps:
        row = {"step": step, "outcomes": sorted(step.outcomes.items(), key=lambda i: -i[1])}
        if step.send is not None:
            send = step.send
            row |= {
                "click_rate": _pct(send.click_rate),
                "conversion_rate": _pct(send.conversion_rate),
                "revenue": _money(send.conversions, locale),
            }
            suppressions += [(step.id, reason, n) for reason, n in send.suppressed.items()]
        steps.append(row)

    holdout = None
    if found.holdout is not None:
        comparison = found.holdout
        interval = comparison.interval
        holdout = {
            "comparison": comparison,
            "treated_rate": _pct(comparison.treated_rate),
            "holdout_rate": _pct(comparison.holdout_rate),
            "difference": f"{100 * interval[0]:+.1f}" if interval else "–",
            "low": f"{100 * interval[1]:.1f}" if interval else "–",
            "high": f"{100 * interval[2]:.1f}" if interval else "–",
            "lift": _pct(comparison.relative_lift),
            "reading": comparison.reading(),
            "verdict": comparison.verdict,
        }

    conversions = found.conversions
    return backoffice_page(
        request,
        "journeys/flow_results.html",
        {
            "title": f"Results: {flow.name}",
            "flow": flow,
            "form": form,
            "results": found,
            "period": period,
            "start_day": start_day,
            "end_day": end_day,
            "time_zone": flow.store.time_zone,
            "sent": found.sent,
            "conversions": conversions,
            "conversion_rate": _pct(conversions.orders / found.sent if found.sent else None),
            "revenue": _money(conversions, locale),
            "steps": steps,
            "suppressions": suppressions,
            "holdout": holdout,
        },
    )


@staff_member_required
@require_GET
def flows_overview(request):
    stores = list(stores_for_user(request.user)[:2])
    # One store: its days; several: UTC days, said on the page.
    zone_name = stores[0].time_zone if len(stores) == 1 else "UTC"
    form, period, start_day, end_day = _period(request, ZoneInfo(zone_name))
    flows = Flow.objects.filter(store__in=stores_for_user(request.user)).order_by(
        "store__name", "name", "id"
    )
    locale = _locale()
    rows = [
        {
            "summary": summary,
            "conversion_rate": _pct(summary.conversion_rate),
            "revenue": _money(summary.conversions, locale),
        }
        for summary in selectors.flows_overview(flows=flows, period=period)
    ]
    return backoffice_page(
        request,
        "journeys/overview.html",
        {
            "title": "Flow results",
            "form": form,
            "period": period,
            "start_day": start_day,
            "end_day": end_day,
            "time_zone": zone_name,
            "rows": rows,
            "query": request.GET.urlencode(),
        },
    )
