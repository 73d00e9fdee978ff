"""What the merchant reads: scores over time and cut by what the answers were about, response
rates, the words of unhappy and happy shoppers, detractor cases, and — from the reviews — how the
rating follows the delivery's delay.

Every figure is an aggregate query (GROUP BY in the database); Python only turns the counts into
NPS, CSAT % and CES means. Answers carry their snapshot (carrier, lane, late, first order …), so
the cuts read one table; products and categories read the small AnswerProduct table.

NPS = % promoters − % detractors, with a 95% confidence interval from the variance of a
promoter (+1) / passive (0) / detractor (−1) score: ±1.96·√((p + d − (p − d)²) / n).
CSAT % = share of satisfied answers (the promoter band: 4–5 by default). CES = mean score (1–7).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections import Counter
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate

from aftersale.core.models import Store
from aftersale.feedback.models import (
    AnswerProduct,
    DetractorCase,
    SurveyAnswer,
    SurveyType,
)
from aftersale.feedback.selectors import KIND_SURVEY
from aftersale.messaging.models import Message
from aftersale.reviews.models import Review
from aftersale.tracking.models import Shipment

TYPES = (SurveyType.NPS, SurveyType.CSAT, SurveyType.CES)
GRANULARITIES = ("week", "month")
THEME_LIMIT = 15
THEME_SAMPLE = 5000  # newest comments read per band
DIMENSIONS = ("carrier", "lane", "product", "category", "late", "customer")

# Days late (delivered, local date, minus the promised date) → bucket, in order.
DELAY_BUCKETS = [
    ("early", "3+ days early", None, -3),
    ("on_time", "on time (up to 2 days early)", -2, 0),
    ("late_1_2", "1–2 days late", 1, 2),
    ("late_3_5", "3–5 days late", 3, 5),
    ("late_6_10", "6–10 days late", 6, 10),
    ("late_11_20", "11–20 days late", 11, 20),
    ("late_21", "21+ days late", 21, None),
]

# Words too common to be a theme, in English, Portuguese and German.
_STOP_WORDS_TEXT = """
a about above after again all also am an and any are as at be because been before being but
by can could did do does doing done don down during each even ever few for from get got had
has have having he her here hers him his how i if in into is it its itself just me more most
my no nor not now of off on once only or other our ours out over own really same she should
so some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your
yours im ive its dont didnt one two thing things much many lot well still way o os as um uma
uns umas de do da dos das em no na nos nas por pelo pela pelos pelas para pra com sem sob
sobre que e é ou mas se não nao sim muito muita muitos muitas mais menos já ja foi ser estar
está esta estou era eram são sao tem têm tenho tinha ter fui foram isso isto esse essa este
aquele aquela ele ela eles elas eu me meu minha meus minhas seu sua seus suas nosso nossa
lhe lhes ao aos à às como quando onde porque até ate também tambem bem só so ainda pois
então entao dia dias aqui lá la vou vai veio der die das den dem des ein eine einer eines
einem einen und oder aber auch als am an auf aus bei bin bis bist da dass du er es ich ihr
im in ist ja kein keine mit nach nicht noch nur ob schon sehr sie sind so um uns vom von vor
war waren was wie wir wird zu zum zur hat habe haben hatte wurde wurden mein meine mir mich
dir dich sich man mal dann doch hier immer etwas alles wieder gibt gut sein seine ihre ihren
eigentlich
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


@dataclass(frozen=True)
class Period:
    since: dt.datetime | None
    until: dt.datetime | None


def _zone(store: Store) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(store.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _answers(store: Store, period: Period, survey_type: str | None = None):
    qs = SurveyAnswer.objects.filter(store=store)
    if period.since is not None:
        qs = qs.filter(answered_at__gte=period.since)
    if period.until is not None:
        qs = qs.filter(answered_at__lt=period.until)
    if survey_type:
        qs = qs.filter(survey_type=survey_type)
    return qs


def _counts() -> dict:
    return {
        "n": Count("id"),
        "promoters": Count("id", filter=Q(band=SurveyAnswer.Band.PROMOTER)),
        "detractors": Count("id", filter=Q(band=SurveyAnswer.Band.DETRACTOR)),
        "total": Sum("score"),
    }


def metric(survey_type: str, n: int, promoters: int, detractors: int, total: int | None) -> dict:
    """The survey's headline figure from its counts (plain JSON numbers)."""
    out: dict = {
        "n": n,
        "promoters": promoters,
        "passives": n - promoters - detractors,
        "detractors": detractors,
    }
    if not n:
        out["value"] = None
        return out
    p, d = promoters / n, detractors / n
    if survey_type == SurveyType.NPS:
        out["value"] = round(100 * (p - d), 1)
        variance = max(p + d - (p - d) ** 2, 0.0)
        margin = 1.96 * 100 * math.sqrt(variance / n)
        out["ci_low"] = round(max(out["value"] - margin, -100.0), 1)
        out["ci_high"] = round(min(out["value"] + margin, 100.0), 1)
    elif survey_type == SurveyType.CSAT:
        out["value"] = round(100 * p, 1)
    else:
        out["value"] = round((total or 0) / n, 2)
    return out


def _metric_row(survey_type: str, row: dict) -> dict:
    return metric(survey_type, row["n"], row["promoters"], row["detractors"], row["total"])


def summary(store: Store, period: Period) -> dict:
    rows = _answers(store, period).values("survey_type").annotate(**_counts()).order_by()
    found = {row["survey_type"]: _metric_row(row["survey_type"], row) for row in rows}
    return {t: found.get(t) or metric(t, 0, 0, 0, 0) for t in TYPES}


def _period_start(day: dt.date, granularity: str) -> dt.date:
    if granularity == "month":
        return day.replace(day=1)
    return day - dt.timedelta(days=day.weekday())  # Monday


def over_time(store: Store, period: Period, granularity: str) -> dict:
    """Per week (from Monday) or month, in the store's time zone: one GROUP BY per day (the
    answer's local date is stored), rolled up here — at most a few rows per day."""
    rows = (
        _answers(store, period)
        .values("survey_type", "answered_on")
        .annotate(**_counts())
        .order_by("answered_on")
    )
    sums: dict[tuple[str, dt.date], list[int]] = {}
    for row in rows:
        key = (row["survey_type"], _period_start(row["answered_on"], granularity))
        acc = sums.setdefault(key, [0, 0, 0, 0])
        acc[0] += row["n"]
        acc[1] += row["promoters"]
        acc[2] += row["detractors"]
        acc[3] += row["total"] or 0
    out: dict[str, list] = {t: [] for t in TYPES}
    for (survey_type, start), (n, promoters, detractors, total) in sorted(
        sums.items(), key=lambda item: item[0][1]
    ):
        out[survey_type].append(
            {"period": start.isoformat(), **metric(survey_type, n, promoters, detractors, total)}
        )
    return out


def _label(dimension: str, key) -> str:
    if dimension == "late":
        return {True: "late", False: "on time", None: "unknown"}[key]
    if dimension == "customer":
        return {True: "first order", False: "repeat customer", None: "unknown"}[key]
    return key or "unknown"


_FIELDS = {"carrier": "carrier", "lane": "lane", "late": "late", "customer": "first_order"}


def cut(store: Store, period: Period, dimension: str, limit: int = 25) -> dict:
    """{survey type: [{"key", metric…}]} — the largest groups first."""
    out: dict[str, list] = {t: [] for t in TYPES}
    if dimension in _FIELDS:
        field = _FIELDS[dimension]
        rows = (
            _answers(store, period)
            .values("survey_type", field)
            .annotate(**_counts())
            .order_by("survey_type", "-n", field)
        )
        for row in rows:
            out[row["survey_type"]].append(
                {"key": _label(dimension, row[field]), **_metric_row(row["survey_type"], row)}
            )
        for found in out.values():
            found.sort(key=lambda r: (-r["n"], r["key"]))
    else:
        # Products and categories: one row per (answer, product); an answer counts once per
        # product, and once per category (first_of_category marks one row per answer and
        # category: an order with two mugs counts once for "Kitchen").
        field = "title" if dimension == "product" else "category"
        rows_qs = AnswerProduct.objects.filter(answer__store=store)
        if dimension == "category":
            rows_qs = rows_qs.filter(first_of_category=True)
        if period.since is not None:
            rows_qs = rows_qs.filter(answer__answered_at__gte=period.since)
        if period.until is not None:
            rows_qs = rows_qs.filter(answer__answered_at__lt=period.until)
        rows = (
            rows_qs.values("answer__survey_type", field)
            .annotate(
                n=Count("id"),
                promoters=Count("id", filter=Q(answer__band=SurveyAnswer.Band.PROMOTER)),
                detractors=Count("id", filter=Q(answer__band=SurveyAnswer.Band.DETRACTOR)),
                total=Sum("answer__score"),
            )
            .order_by("answer__survey_type", "-n", field)
        )
        for row in rows:
            survey_type = row["answer__survey_type"]
            if len(out[survey_type]) < limit:
                out[survey_type].append(
                    {"key": row[field] or "unknown", **_metric_row(survey_type, row)}
                )
    return {t: rows[:limit] for t, rows in out.items()}


def answer_field_cuts(store: Store, period: Period, limit: int = 25) -> dict:
    """The cuts by the answer's own snapshot fields (carrier, lane, late, first or repeat) from
    one GROUP BY over all four, rolled up here: the groups are few (carriers × lanes × 3 × 3)
    and the table is read once instead of four times."""
    fields = list(_FIELDS.values())
    rows = _answers(store, period).values("survey_type", *fields).annotate(**_counts()).order_by()
    sums: dict[str, dict[tuple[str, object], list[int]]] = {d: {} for d in _FIELDS}
    for row in rows:
        for dimension, field in _FIELDS.items():
            acc = sums[dimension].setdefault((row["survey_type"], row[field]), [0, 0, 0, 0])
            acc[0] += row["n"]
            acc[1] += row["promoters"]
            acc[2] += row["detractors"]
            acc[3] += row["total"] or 0
    out: dict[str, dict[str, list]] = {}
    for dimension, groups in sums.items():
        by_type: dict[str, list] = {t: [] for t in TYPES}
        for (survey_type, key), (n, promoters, detractors, total) in groups.items():
            by_type[survey_type].append(
                {
                    "key": _label(dimension, key),
                    **metric(survey_type, n, promoters, detractors, total),
                }
            )
        out[dimension] = {
            t: sorted(found, key=lambda r: (-r["n"], r["key"]))[:limit]
            for t, found in by_type.items()
        }
    return out


def response_rates(store: Store, period: Period) -> dict:
    """Answers per survey message sent (sent in the period; answered whenever)."""
    sent = Message.objects.filter(store=store, kind__in=list(KIND_SURVEY), sent_at__isnull=False)
    if period.since is not None:
        sent = sent.filter(sent_at__gte=period.since)
    if period.until is not None:
        sent = sent.filter(sent_at__lt=period.until)
    by_kind = dict(sent.values_list("kind").annotate(n=Count("id")).order_by())
    answered = dict(
        SurveyAnswer.objects.filter(store=store, message__in=sent.values("id"))
        .values_list("survey_type")
        .annotate(n=Count("id"))
        .order_by()
    )
    out = {}
    for survey_type in TYPES:
        n_sent = sum(n for kind, n in by_kind.items() if KIND_SURVEY[kind] == survey_type)
        n_answered = answered.get(survey_type, 0)
        out[survey_type] = {
            "sent": n_sent,
            "answered": n_answered,
            "rate": round(100 * n_answered / n_sent, 1) if n_sent else None,
        }
    return out


def words(texts) -> list[dict]:
    counts: Counter = Counter()
    for text in texts:
        # A word counts once per comment.
        counts.update({w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"word": w, "count": n} for w, n in ranked[:THEME_LIMIT]]


def themes(store: Store, period: Period) -> dict:
    """The most frequent words (stop words of en / pt / de left out) in the comments of unhappy
    (detractor) and happy (promoter) answers; each word counts once per comment."""
    out = {}
    for side, band in (("low", SurveyAnswer.Band.DETRACTOR), ("high", SurveyAnswer.Band.PROMOTER)):
        texts = (
            _answers(store, period)
            .filter(band=band)
            .exclude(comment="")
            .order_by("-answered_at")
            .values_list("comment", flat=True)[:THEME_SAMPLE]
        )
        out[side] = words(texts)
    return out


def cases(store: Store, period: Period) -> dict:
    """Cases opened in the period by state, the recovery rate (recovered / opened) and how many
    are open now (whenever opened)."""
    opened = DetractorCase.objects.filter(store=store)
    if period.since is not None:
        opened = opened.filter(opened_at__gte=period.since)
    if period.until is not None:
        opened = opened.filter(opened_at__lt=period.until)
    states = dict(opened.values_list("state").annotate(n=Count("id")).order_by())
    total = sum(states.values())
    recovered = states.get(DetractorCase.State.RECOVERED, 0)
    reasons = dict(
        opened.filter(state=DetractorCase.State.RECOVERED)
        .values_list("closed_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    open_now = DetractorCase.objects.filter(
        store=store, state__in=DetractorCase.OPEN_STATES
    ).count()
    return {
        "opened": total,
        "by_state": {s: states.get(s, 0) for s in DetractorCase.State.values},
        "recovered_by": {r: reasons.get(r, 0) for r in DetractorCase.Reason.values},
        "recovery_rate": round(100 * recovered / total, 1) if total else None,
        "open_now": open_now,
    }


def _delay_by_join(reviews, parcels, days, whens) -> dict[int, tuple]:
    """SQLite: the parcels grouped per order with their bucket (the time-zone conversion, a
    Python function there, runs once per parcel), joined to the reviews. Both halves are
    compiled by the ORM; only the join around them is written here."""
    per_order = (
        parcels.values("order_id")
        .annotate(worst=Max(days))
        .annotate(bucket=Case(*whens, output_field=IntegerField()))
        .values("order_id", "bucket")
        .order_by()
    )
    review_sql, review_params = (
        reviews.values("order_id", "rating").order_by().query.sql_with_params()
    )
    order_sql, order_params = per_order.query.sql_with_params()
    # Only ORM-compiled SQL is put in; every value travels as a parameter.
    sql = (
        "SELECT w.bucket, COUNT(*), AVG(r.rating), "  # noqa: S608
        "SUM(CASE WHEN r.rating <= 2 THEN 1 ELSE 0 END) "
        f"FROM ({review_sql}) r JOIN ({order_sql}) w ON w.order_id = r.order_id "
        "GROUP BY w.bucket"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*review_params, *order_params])
        return {bucket: (n, average, low) for bucket, n, average, low in cursor.fetchall()}


def _delay_by_subquery(reviews, days, whens) -> dict[int, tuple]:
    """PostgreSQL: each review's order's worst delay as a correlated subquery (an index lookup
    per review), bucketed and grouped — a plan that stays good before the planner has
    statistics of a fresh import (a join of two aggregates does not)."""
    # By order only (the order is the store's): with a store filter too, the planner may scan
    # the store's parcels once per review.
    worst = (
        Shipment.objects.filter(
            order_id=OuterRef("order_id"),
            delivered_at__isnull=False,
            promised_delivery_date__isnull=False,
        )
        .values("order_id")
        .annotate(worst=Max(days))
        .values("worst")
    )
    rows = (
        reviews.annotate(worst=Subquery(worst, output_field=DurationField()))
        .filter(worst__isnull=False)
        .annotate(bucket=Case(*whens, output_field=IntegerField()))
        .values("bucket")
        .annotate(n=Count("id"), average=Avg("rating"), low=Count("id", filter=Q(rating__lte=2)))
        .order_by("bucket")
    )
    return {row["bucket"]: (row["n"], row["average"], row["low"]) for row in rows}


def delay_vs_rating(store: Store, period: Period) -> dict:
    """Store-level reviews (imported Olist ones included, rejected ones left out) against their
    order's delivery: days late (the parcel's local delivery date minus the promised date; the
    order's latest parcel) in buckets, with the review count, average rating and share of 1–2
    stars of each.

    One statement, whose shape depends on the database (see _delay_by_join and
    _delay_by_subquery)."""
    days = ExpressionWrapper(
        TruncDate("delivered_at", tzinfo=_zone(store)) - F("promised_delivery_date"),
        output_field=DurationField(),
    )
    whens = []
    for position, (_key, _label_text, low, high) in enumerate(DELAY_BUCKETS):
        condition = Q()
        if low is not None:
            condition &= Q(worst__gte=dt.timedelta(days=low))
        if high is not None:
            condition &= Q(worst__lte=dt.timedelta(days=high))
        whens.append(When(condition, then=Value(position)))
    reviews = Review.objects.filter(store=store, product__isnull=True, order__isnull=False).exclude(
        status=Review.Status.REJECTED
    )
    if period.since is not None:
        reviews = reviews.filter(created_at__gte=period.since)
    if period.until is not None:
        reviews = reviews.filter(created_at__lt=period.until)
    parcels = Shipment.objects.filter(
        store=store, delivered_at__isnull=False, promised_delivery_date__isnull=False
    )
    if connection.vendor == "sqlite":
        found = _delay_by_join(reviews, parcels, days, whens)
    else:
        found = _delay_by_subquery(reviews, days, whens)
    buckets = []
    for position, (key, label, _low, _high) in enumerate(DELAY_BUCKETS):
        n, average, low = found.get(position, (0, None, 0))
        buckets.append(
            {
                "key": key,
                "label": label,
                "reviews": n,
                "average": round(float(average), 2) if n else None,
                "low_share": round(100 * low / n, 1) if n else None,
            }
        )
    return {"reviews": sum(b["reviews"] for b in buckets), "buckets": buckets}


def _cuts(store: Store, period: Period, dimensions: tuple[str, ...]) -> dict:
    own = answer_field_cuts(store, period) if set(dimensions) & set(_FIELDS) else {}
    return {d: own[d] if d in _FIELDS else cut(store, period, d) for d in dimensions}


def feedback_report(
    *,
    store: Store,
    since: dt.datetime | None,
    until: dt.datetime | None,
    granularity: str = "week",
    dimensions: tuple[str, ...] = DIMENSIONS,
) -> dict:
    period = Period(since, until)
    return {
        "store": store.slug,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "granularity": granularity if granularity in GRANULARITIES else "week",
        "time_zone": store.time_zone,
        "summary": summary(store, period),
        "over_time": over_time(store, period, granularity),
        "cuts": _cuts(store, period, dimensions),
        "response_rates": response_rates(store, period),
        "themes": themes(store, period),
        "cases": cases(store, period),
        "delay_vs_rating": delay_vs_rating(store, period),
    }
