"""Back-office watchlist: parcels with open issues (late, stalled, exception, invalid number …)
and how each carrier does on each lane.

Mounted under /admin/tracking/watchlist/ (backoffice_urls.py), inside the admin's look. Staff
only and store-scoped: a staff user sees the issues of the stores they belong to; naming another
store in the filter is a 404, and a bulk action on another store's issue changes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.tenancy import backoffice_page, stores_for_user, stores_in_scope
from aftersale.tracking.issues import issues_resolve
from aftersale.tracking.models import Shipment, ShipmentIssue

PAGE_SIZE = 100
LANE_DAYS = 90
AGES = [("", "Any age"), ("1", "Open 1+ days"), ("3", "Open 3+ days"), ("7", "Open 7+ days")]
STATES = [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]


# -- selectors ------------------------------------------------------------------------------


class WatchlistFilter(forms.Form):
    kind = forms.ChoiceField(
        required=False, choices=[("", "All kinds"), *ShipmentIssue.Kind.choices]
    )
    carrier = forms.CharField(required=False, max_length=60)
    store = forms.CharField(required=False, max_length=100)
    age = forms.ChoiceField(required=False, choices=AGES)
    state = forms.ChoiceField(required=False, choices=STATES)


def issue_list(
    *,
    stores: QuerySet[Store],
    now: dt.datetime,
    kind: str = "",
    carrier: str = "",
    age_days: int | None = None,
    state: str = "open",
) -> QuerySet[ShipmentIssue]:
    """The issues of these stores, newest first, with shipment, order and store joined."""
    qs = ShipmentIssue.objects.filter(store__in=stores).select_related(
        "store", "shipment", "shipment__order"
    )
    if state == "open":
        qs = qs.filter(resolved_at__isnull=True)
    elif state == "resolved":
        qs = qs.filter(resolved_at__isnull=False)
    if kind:
        qs = qs.filter(kind=kind)
    if carrier:
        qs = qs.filter(
            Q(shipment__carrier_code__iexact=carrier) | Q(shipment__carrier__iexact=carrier)
        )
    if age_days:
        qs = qs.filter(detected_at__lte=now - dt.timedelta(days=age_days))
    return qs.order_by("-detected_at", "-id")


def open_counts(*, stores: QuerySet[Store]) -> dict[str, int]:
    rows = (
        ShipmentIssue.objects.filter(store__in=stores, resolved_at__isnull=True)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["kind"]: row["n"] for row in rows}


def _percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(math.ceil(p * len(values)), 1)
    return values[rank - 1]


@dataclass
class Lane:
    carrier: str
    origin: str
    destination: str
    delivered: int = 0
    promised: int = 0
    on_time: int = 0
    transit_days: list[float] = field(default_factory=list)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.promised if self.promised else None

    @property
    def p50(self) -> float | None:
        return _percentile(sorted(self.transit_days), 0.5)

    @property
    def p90(self) -> float | None:
        return _percentile(sorted(self.transit_days), 0.9)


def _place(region: str, country: str) -> str:
    parts = [p for p in (country, region) if p]
    return " / ".join(parts) if parts else "—"


def lane_performance(
    *, stores: QuerySet[Store], now: dt.datetime, days: int = LANE_DAYS, carrier: str = ""
) -> list[Lane]:
    """Carrier × origin region → destination region over the parcels delivered in the last
    `days`: how many, on time against the promise (the store's local date), transit days p50 and
    p90 (shipped → delivered). One query; the arithmetic is done here."""
    qs = Shipment.objects.filter(
        store__in=stores, delivered_at__gte=now - dt.timedelta(days=days)
    ).order_by()
    if carrier:
        qs = qs.filter(Q(carrier_code__iexact=carrier) | Q(carrier__iexact=carrier))
    rows = qs.values_list(
        "store__time_zone",
        "carrier_code",
        "carrier",
        "origin_region",
        "origin_country",
        "destination_region",
        "destination_country",
        "shipped_at",
        "delivered_at",
        "promised_delivery_date",
    )
    lanes: dict[tuple[str, str, str], Lane] = {}
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    for (
        tz,
        code,
        name,
        o_region,
        o_country,
        d_region,
        d_country,
        shipped,
        delivered,
        promise,
    ) in rows.iterator(chunk_size=2000):
        key = (code or name or "unknown", _place(o_region, o_country), _place(d_region, d_country))
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = Lane(*key)
        lane.delivered += 1
        if shipped is not None and delivered >= shipped:
            lane.transit_days.append((delivered - shipped).total_seconds() / 86400)
        if promise is not None:
            zone = zones.get(tz)
            if zone is None:
                try:
                    zone = zones[tz] = zoneinfo.ZoneInfo(tz)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    zone = zones[tz] = zoneinfo.ZoneInfo("UTC")
            lane.promised += 1
            lane.on_time += delivered.astimezone(zone).date() <= promise
    return sorted(lanes.values(), key=lambda lane: (-lane.delivered, lane.carrier, lane.origin))


# -- views ----------------------------------------------------------------------------------


def _age(delta: dt.timedelta) -> str:
    if delta.days >= 1:
        return f"{delta.days} d"
    return f"{max(int(delta.total_seconds() // 3600), 0)} h"


@staff_member_required
@require_http_methods(["GET", "POST"])
def watchlist(request):
    if request.method == "POST":
        return _bulk(request)
    form = WatchlistFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    stores = stores_in_scope(request.user, data.get("store", ""))
    now = clock.now()
    state = data.get("state") or "open"
    issues = issue_list(
        stores=stores,
        now=now,
        kind=data.get("kind", ""),
        carrier=data.get("carrier", "").strip(),
        age_days=int(data["age"]) if data.get("age") else None,
        state=state,
    )
    page = Paginator(issues, PAGE_SIZE).get_page(request.GET.get("page"))
    kinds = dict(ShipmentIssue.Kind.choices)
    counts = open_counts(stores=stores)
    rows = [
        {
            "issue": issue,
            "age": _age(now - issue.detected_at),
            "shipment_url": reverse("admin:tracking_shipment_change", args=[issue.shipment_id]),
            "order_url": reverse("admin:orders_order_change", args=[issue.shipment.order_id]),
        }
        for issue in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return backoffice_page(
        request,
        "tracking/backoffice/watchlist.html",
        {
            "title": "Parcel watchlist",
            "form": form,
            "rows": rows,
            "page": page,
            "query": query.urlencode(),
            "counts": [(code, label, counts.get(code, 0)) for code, label in kinds.items()],
            "state": state,
            "stores": stores_for_user(request.user).order_by("name"),
        },
    )


def _bulk(request):
    action = request.POST.get("action", "")
    ids = [int(pk) for pk in request.POST.getlist("ids") if pk.isdigit()]
    back = request.POST.get("next", "")
    target = reverse("tracking_backoffice:watchlist") + (f"?{back}" if back else "")
    if action != "resolve" or not ids:
        messages.warning(request, "Pick some issues and an action.")
        return HttpResponseRedirect(target)
    mine = ShipmentIssue.objects.filter(pk__in=ids, store__in=stores_for_user(request.user))
    done = issues_resolve(issues=mine)
    messages.success(request, f"{done} issue(s) marked resolved.")
    return HttpResponseRedirect(target)


class LaneFilter(forms.Form):
    store = forms.CharField(required=False, max_length=100)
    carrier = forms.CharField(required=False, max_length=60)


def _days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


@staff_member_required
@require_GET
def lanes(request):
    form = LaneFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    stores = stores_in_scope(request.user, data.get("store", ""))
    found = lane_performance(
        stores=stores, now=clock.now(), carrier=data.get("carrier", "").strip()
    )
    rows = [
        {
            "lane": lane,
            "on_time": "–" if lane.on_time_rate is None else f"{100 * lane.on_time_rate:.0f}%",
            "p50": _days(lane.p50),
            "p90": _days(lane.p90),
        }
        for lane in found
    ]
    totals: dict[str, int] = defaultdict(int)
    for lane in found:
        totals["delivered"] += lane.delivered
        totals["promised"] += lane.promised
        totals["on_time"] += lane.on_time
    return backoffice_page(
        request,
        "tracking/backoffice/lanes.html",
        {
            "title": "Carrier performance by lane",
            "form": form,
            "rows": rows,
            "days": LANE_DAYS,
            "totals": dict(totals),
            "stores": stores_for_user(request.user).order_by("name"),
        },
    )
