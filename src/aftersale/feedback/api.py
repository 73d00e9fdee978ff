"""The feedback JSON API: the merchant's report (what /admin/feedback/desk/ shows) and the
detractor cases. API key → request.store; read scope is enough."""

from __future__ import annotations

import datetime as dt

from ninja import Query, Router

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.schemas import READ_ERRORS
from aftersale.core.services import DomainError
from aftersale.feedback.reports import feedback_report
from aftersale.feedback.schemas import CaseListOut, CaseQuery, ReportOut, ReportQuery, case_out
from aftersale.feedback.selectors import case_list

router = Router(tags=["feedback"])

DEFAULT_DAYS = 90


@router.get("/feedback/report", response={200: ReportOut, **READ_ERRORS}, summary="Feedback report")
def report(request, query: Query[ReportQuery]):
    """Scores over time (NPS with its 95% interval, CSAT %, CES mean), cut by carrier, lane,
    product, category, late vs on time and first vs repeat customer; response rates; frequent
    words of unhappy and happy comments; detractor cases; days late vs review rating."""
    if query.all_time:
        since = until = None
    else:
        until = query.until
        since = query.since or (until or clock.now()) - dt.timedelta(days=DEFAULT_DAYS)
        if until is not None and since >= until:
            raise DomainError("since must be before until", field="since")
    store: Store = request.store
    return feedback_report(store=store, since=since, until=until, granularity=query.granularity)


@router.get(
    "/feedback/cases", response={200: CaseListOut, **READ_ERRORS}, summary="Detractor cases"
)
def cases(request, query: Query[CaseQuery]):
    """Newest first; `state=open` lists open and contacted cases."""
    stores = Store.objects.filter(pk=request.store.pk)
    found = case_list(stores=stores, state=query.state)[: query.limit]
    return {"data": [case_out(c) for c in found]}
