"""The feedback API's shapes: the report the back office shows, and the detractor cases."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import AwareDatetime, Field

from aftersale.core.schemas import StrictSchema


class ReportQuery(StrictSchema):
    since: AwareDatetime | None = Field(None, description="answers from (default: 90 days ago)")
    until: AwareDatetime | None = Field(None, description="answers before (default: now)")
    all_time: bool = Field(False, description="ignore since/until")
    granularity: Literal["week", "month"] = "week"


class MetricOut(Schema):
    n: int
    promoters: int
    passives: int
    detractors: int
    value: float | None = Field(None, description="NPS (−100…100), CSAT % or CES mean")
    ci_low: float | None = None
    ci_high: float | None = None


class PeriodMetricOut(MetricOut):
    period: str = Field(..., description="first day of the week (Monday) or month, store time")


class CutRowOut(MetricOut):
    key: str


class SummaryOut(Schema):
    nps: MetricOut
    csat: MetricOut
    ces: MetricOut


class OverTimeOut(Schema):
    nps: list[PeriodMetricOut]
    csat: list[PeriodMetricOut]
    ces: list[PeriodMetricOut]


class CutOut(Schema):
    nps: list[CutRowOut]
    csat: list[CutRowOut]
    ces: list[CutRowOut]


class CutsOut(Schema):
    carrier: CutOut
    lane: CutOut
    product: CutOut
    category: CutOut
    late: CutOut
    customer: CutOut


class RateOut(Schema):
    sent: int
    answered: int
    rate: float | None


class RatesOut(Schema):
    nps: RateOut
    csat: RateOut
    ces: RateOut


class WordOut(Schema):
    word: str
    count: int


class ThemesOut(Schema):
    low: list[WordOut]
    high: list[WordOut]


class CasesSummaryOut(Schema):
    opened: int
    by_state: dict[str, int]
    recovered_by: dict[str, int]
    recovery_rate: float | None
    open_now: int


class DelayBucketOut(Schema):
    key: str
    label: str
    reviews: int
    average: float | None
    low_share: float | None = Field(None, description="% of 1–2 star reviews")


class DelayOut(Schema):
    reviews: int
    buckets: list[DelayBucketOut]


class ReportOut(Schema):
    store: str
    since: str | None
    until: str | None
    granularity: str
    time_zone: str
    summary: SummaryOut
    over_time: OverTimeOut
    cuts: CutsOut
    response_rates: RatesOut
    themes: ThemesOut
    cases: CasesSummaryOut
    delay_vs_rating: DelayOut


class CaseQuery(StrictSchema):
    state: Literal["open", "contacted", "recovered", "lost", "all"] = "open"
    limit: int = Field(50, ge=1, le=200)


class CaseOut(Schema):
    id: str
    state: str
    closed_reason: str
    survey: str
    score: int
    comment: str
    order_id: str | None
    customer_id: str | None
    owner: str | None
    opened_at: datetime
    contacted_at: datetime | None
    closed_at: datetime | None


class CaseListOut(Schema):
    data: list[CaseOut]


def case_out(case) -> dict:
    return {
        "id": case.public_id,
        "state": case.state,
        "closed_reason": case.closed_reason,
        "survey": case.answer.survey_type,
        "score": case.answer.score,
        "comment": case.answer.comment,
        "order_id": case.order.public_id if case.order_id else None,
        "customer_id": case.customer.public_id if case.customer_id else None,
        "owner": case.owner.get_username() if case.owner_id else None,
        "opened_at": case.opened_at,
        "contacted_at": case.contacted_at,
        "closed_at": case.closed_at,
    }
