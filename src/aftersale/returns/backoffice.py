"""Back-office pages for returns, under /admin/returns/desk/ (inside the admin's look).

The review queue (filters, bulk approve), one return (inspection, decisions, notes, photos), the
rule editor with a back-test of the draft before saving, and the reports. Staff only and
store-scoped: a staff user sees the returns of their stores; anything else is a 404, and an action
on another store's return changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.core.tenancy import backoffice_page, stores_for_user, stores_in_scope
from aftersale.returns import reports
from aftersale.returns.models import ReturnLine, ReturnPhoto, ReturnReason, ReturnRequest
from aftersale.returns.selectors import OPEN_STATUSES, ruleset_definition, store_zone
from aftersale.returns.services import (
    Actor,
    return_approve,
    return_bulk_approve,
    return_close,
    return_inspect,
    return_note_add,
    return_receive,
    return_reject,
    rules_backtest,
    rules_save,
)

PAGE_SIZE = 50
AGES = [("", "Any age"), ("1", "1+ days"), ("3", "3+ days"), ("7", "7+ days"), ("14", "14+ days")]
QUEUES = [
    ("review", "Waiting for review"),
    ("open", "Open (not yet paid out)"),
    ("all", "All"),
    *ReturnRequest.Status.choices,
]


def _one_store(request) -> Store:
    """The store a per-store page is about: the one named, else the user's first."""
    stores = stores_in_scope(
        request.user, request.GET.get("store") or request.POST.get("store") or ""
    )
    store = stores.order_by("name").first()
    if store is None:
        raise Http404("no store")
    return store


def _return_for(request, ref: str) -> ReturnRequest:
    ret = (
        ReturnRequest.objects.filter(public_id=ref, store__in=stores_for_user(request.user))
        .select_related("store", "order", "customer", "refund", "exchange_order")
        .first()
    )
    if ret is None:
        raise Http404("no such return")
    return ret


def _age(delta: dt.timedelta) -> str:
    if delta.days >= 1:
        return f"{delta.days} d"
    return f"{max(int(delta.total_seconds() // 3600), 0)} h"


# -- the queue --------------------------------------------------------------------------------


class QueueFilter(forms.Form):
    queue = forms.ChoiceField(required=False, choices=QUEUES)
    reason = forms.CharField(required=False, max_length=60)
    product = forms.CharField(required=False, max_length=100, help_text="title or SKU")
    min_value = forms.DecimalField(required=False, min_value=0, max_digits=18, decimal_places=2)
    fraud = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("yes", "Flagged"), ("no", "Not flagged")]
    )
    age = forms.ChoiceField(required=False, choices=AGES)
    store = forms.CharField(required=False, max_length=100)


def queue_list(*, stores: QuerySet[Store], now: dt.datetime, data: dict) -> QuerySet:
    qs = ReturnRequest.objects.filter(store__in=stores).select_related("store", "order", "customer")
    queue = data.get("queue") or "review"
    if queue == "review":
        qs = qs.filter(status=ReturnRequest.Status.REQUESTED)
    elif queue == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif queue != "all":
        qs = qs.filter(status=queue)
    if data.get("reason"):
        code = data["reason"]
        qs = qs.filter(Q(lines__reason_code=code) | Q(lines__parent_reason_code=code))
    if data.get("product"):
        term = data["product"].strip()
        qs = qs.filter(
            Q(lines__order_line__title__icontains=term) | Q(lines__order_line__sku__iexact=term)
        )
    if data.get("min_value") is not None:
        qs = qs.filter(items_amount__gte=data["min_value"])
    if data.get("fraud") == "yes":
        qs = qs.filter(fraud_flagged=True)
    elif data.get("fraud") == "no":
        qs = qs.filter(fraud_flagged=False)
    if data.get("age"):
        qs = qs.filter(requested_at__lte=now - dt.timedelta(days=int(data["age"])))
    return qs.distinct().order_by("requested_at", "id")


@staff_member_required
@require_http_methods(["GET", "POST"])
def queue(request):
    if request.method == "POST":
        return _bulk(request)
    form = QueueFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    stores = stores_in_scope(request.user, data.get("store", ""))
    now = clock.now()
    qs = queue_list(stores=stores, now=now, data=data)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    reasons = (
        ReturnReason.objects.filter(store__in=stores)
        .values_list("code", "label")
        .distinct()
        .order_by("code")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return backoffice_page(
        request,
        "returns/backoffice/queue.html",
        {
            "title": "Returns",
            "form": form,
            "rows": [
                {
                    "ret": ret,
                    "age": _age(now - ret.requested_at),
                    "url": reverse("returns_backoffice:detail", args=[ret.public_id]),
                }
                for ret in page.object_list
            ],
            "page": page,
            "reasons": reasons,
            "stores": stores_for_user(request.user).order_by("name"),
            "query": query.urlencode(),
            "queue_name": dict(QUEUES).get(data.get("queue") or "review"),
        },
    )


def _bulk(request):
    back = reverse("returns_backoffice:queue")
    nxt = request.POST.get("next", "")
    if nxt:
        back += "?" + nxt
    if request.POST.get("action") != "approve":
        messages.warning(request, "Choose an action.")
        return HttpResponseRedirect(back)
    refs = request.POST.getlist("ids")
    total = 0
    problems: list[str] = []
    for store in stores_for_user(request.user):
        approved, issues = return_bulk_approve(
            store=store, refs=refs, actor=Actor.staff(request.user)
        )
        total += approved
        problems += issues
    messages.success(request, f"{total} return(s) approved.")
    for problem in problems[:10]:
        messages.warning(request, problem)
    return HttpResponseRedirect(back)


# -- one return -------------------------------------------------------------------------------


class InspectionForm(forms.Form):
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, lines: list[ReturnLine], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"condition_{line.public_id}"] = forms.ChoiceField(
                label=f"Condition of {line.order_line.title}",
                choices=[("", "—"), *ReturnLine.Condition.choices],
                initial=line.condition,
            )
            self.fields[f"disposition_{line.public_id}"] = forms.ChoiceField(
                label=f"Disposition of {line.order_line.title}",
                choices=[("", "—"), *ReturnLine.Disposition.choices],
                initial=line.disposition,
            )

    def rows(self):
        return [
            (
                line,
                self[f"condition_{line.public_id}"],
                self[f"disposition_{line.public_id}"],
            )
            for line in self.lines
        ]


@staff_member_required
@require_http_methods(["GET", "POST"])
def detail(request, ref: str):
    ret = _return_for(request, ref)
    lines = list(
        ret.lines.select_related("order_line", "reason", "exchange_variant").prefetch_related(
            "photos"
        )
    )
    form = InspectionForm(request.POST or None, lines=lines)
    if request.method == "POST":
        actor = Actor.staff(request.user)
        action = request.POST.get("action", "")
        try:
            if action == "approve":
                return_approve(store=ret.store, ret=ret, actor=actor)
                messages.success(request, f"{ret.reference} approved.")
            elif action == "reject":
                return_reject(
                    store=ret.store, ret=ret, actor=actor, reason=request.POST.get("reason", "")
                )
                messages.success(request, f"{ret.reference} rejected.")
            elif action == "receive":
                return_receive(store=ret.store, ret=ret, actor=actor)
                messages.success(request, f"{ret.reference} marked received.")
            elif action == "inspect":
                if not form.is_valid():
                    raise DomainError("choose a condition and a disposition for every line")
                return_inspect(
                    store=ret.store,
                    ret=ret,
                    actor=actor,
                    lines={
                        line.public_id: (
                            form.cleaned_data[f"condition_{line.public_id}"],
                            form.cleaned_data[f"disposition_{line.public_id}"],
                        )
                        for line in lines
                    },
                    notes=form.cleaned_data.get("notes", ""),
                )
                messages.success(request, f"{ret.reference} inspected.")
            elif action == "close":
                return_close(store=ret.store, ret=ret, actor=actor)
                messages.success(request, f"{ret.reference} closed.")
            elif action == "note":
                return_note_add(
                    store=ret.store, ret=ret, actor=actor, note=request.POST.get("note", "")
                )
                messages.success(request, "Note added.")
            else:
                raise DomainError("unknown action")
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("returns_backoffice:detail", args=[ret.public_id]))
    zone = store_zone(ret.store)
    return backoffice_page(
        request,
        "returns/backoffice/detail.html",
        {
            "title": f"Return {ret.reference}",
            "ret": ret,
            "lines": lines,
            "form": form,
            "transitions": list(ret.transitions.select_related("actor_user")),
            "labels": list(ret.labels.select_related("shipment")),
            "credits": list(ret.credits.select_related("account")),
            "zone": zone,
            "order_url": reverse("admin:orders_order_change", args=[ret.order_id]),
            "can": {
                "approve": ret.status == ReturnRequest.Status.REQUESTED,
                "reject": ret.status == ReturnRequest.Status.REQUESTED,
                "receive": ret.status
                in (
                    ReturnRequest.Status.APPROVED,
                    ReturnRequest.Status.LABEL_ISSUED,
                    ReturnRequest.Status.IN_TRANSIT,
                )
                and not ret.is_returnless,
                "inspect": ret.status == ReturnRequest.Status.RECEIVED
                or (ret.received_at is not None and ret.inspected_at is None),
                "close": ret.status
                in (
                    ReturnRequest.Status.REFUNDED,
                    ReturnRequest.Status.CREDITED,
                    ReturnRequest.Status.EXCHANGED,
                ),
            },
        },
    )


@staff_member_required
@require_GET
def photo(request, ref: str):
    """A shopper's photo, for staff of the photo's store only (never a public URL)."""
    row = (
        ReturnPhoto.objects.filter(public_id=ref, store__in=stores_for_user(request.user))
        .only("file", "content_type")
        .first()
    )
    if row is None:
        raise Http404("no such photo")
    response = FileResponse(row.file.open("rb"), content_type=row.content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# -- the rule editor --------------------------------------------------------------------------


def _parse_day(value: str, zone, *, end: bool = False) -> dt.datetime | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{value!r} is not a date (YYYY-MM-DD)", field="period") from None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


@staff_member_required
@require_http_methods(["GET", "POST"])
def rules(request):
    store = _one_store(request)
    zone = store_zone(store)
    stored, version = ruleset_definition(store=store)
    today = clock.now().astimezone(zone).date()
    first_of_month = today.replace(day=1)
    last_month_start = (first_of_month - dt.timedelta(days=1)).replace(day=1)
    placed_from = request.POST.get("placed_from") or last_month_start.isoformat()
    placed_to = request.POST.get("placed_to") or (first_of_month - dt.timedelta(days=1)).isoformat()
    days_after = request.POST.get("days_after_delivery", "")
    draft = json.dumps(stored, indent=2, ensure_ascii=False)
    result = None
    error = None
    if request.method == "POST":
        draft = request.POST.get("definition", "")
        try:
            try:
                definition = json.loads(draft)
            except json.JSONDecodeError as exc:
                raise DomainError(
                    f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                    field="definition",
                ) from None
            if request.POST.get("action") == "save":
                row = rules_save(
                    store=store,
                    definition=definition,
                    user=request.user,
                    expected_version=int(request.POST.get("version") or 0),
                )
                messages.success(request, f"Rules saved (version {row.version}).")
                return HttpResponseRedirect(
                    reverse("returns_backoffice:rules") + f"?store={store.slug}"
                )
            result = rules_backtest(
                store=store,
                definition=definition,
                placed_from=_parse_day(placed_from, zone),
                placed_to=_parse_day(placed_to, zone, end=True),
                days_after_delivery=int(days_after) if days_after.strip() else None,
            )
        except DomainError as exc:
            error = exc
        except ValueError:
            error = DomainError("days after delivery must be a whole number", field="days")
    return backoffice_page(
        request,
        "returns/backoffice/rules.html",
        {
            "title": "Return rules",
            "store": store,
            "stores": stores_for_user(request.user).order_by("name"),
            "version": version,
            "draft": draft,
            "placed_from": placed_from,
            "placed_to": placed_to,
            "days_after": days_after,
            "result": result,
            "error": error,
            "fields": _rule_help(),
        },
    )


def _rule_help() -> dict:
    from aftersale.returns.rules import FIELDS, OPS_BY_KIND, ActionsIn

    return {
        "conditions": [
            (name, kind, ", ".join(OPS_BY_KIND[kind])) for name, (kind, _) in FIELDS.items()
        ],
        "actions": list(ActionsIn.model_fields),
    }


# -- reports ----------------------------------------------------------------------------------


@staff_member_required
@require_GET
def reports_page(request):
    store = _one_store(request)
    zone = store_zone(store)
    now = clock.now()
    try:
        days = max(1, min(int(request.GET.get("days", "90")), 730))
    except ValueError:
        days = 90
    since = now - dt.timedelta(days=days)
    try:
        min_returns = max(2, int(request.GET.get("min_returns", "3")))
    except ValueError:
        min_returns = 3
    rates = {
        dim: reports.return_rates(store=store, dimension=dim, since=since, until=now)
        for dim in ("product", "variant", "category")
    }
    return backoffice_page(
        request,
        "returns/backoffice/reports.html",
        {
            "title": "Returns reports",
            "store": store,
            "stores": stores_for_user(request.user).order_by("name"),
            "days": days,
            "since": since.astimezone(zone),
            "rates": rates,
            "reasons": reports.reasons_breakdown(store=store, since=since, until=now),
            "retained": reports.retained_revenue(store=store, since=since, until=now),
            "timing": reports.time_to_resolution(store=store, since=since, until=now),
            "returners": reports.serial_returners(
                store=store, since=since, until=now, min_returns=min_returns
            ),
            "min_returns": min_returns,
        },
    )
