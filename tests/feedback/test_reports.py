"""The merchant's report, exact on a small data set: NPS with its interval, CSAT %, CES mean, over
time, cut by carrier / lane / product / category / late / first-or-repeat, response rates, themes,
cases and — from store-level reviews — days late against the average rating."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from aftersale.core.events import dispatch_pending
from aftersale.feedback.models import DetractorCase
from aftersale.feedback.reports import feedback_report, metric, words
from aftersale.feedback.services import Submission, answer_submit, case_update
from aftersale.messaging.models import Message
from aftersale.reviews.models import Review
from tests.feedback.conftest import make_customer, make_order, make_shipment, survey_message

pytestmark = pytest.mark.django_db

UTC = dt.UTC
SINCE = dt.datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = dt.datetime(2026, 12, 1, tzinfo=UTC)


def answer(store, message, score, comment=None, at=None):
    with time_machine.travel(at or dt.datetime(2026, 11, 10, 9, tzinfo=UTC), tick=False):
        given = answer_submit(
            store=store, message=message, submission=Submission(score=score, comment=comment)
        )[0]
        dispatch_pending()  # the snapshot and the case follow through the outbox
    return given


def test_nps_interval_matches_the_formula():
    # 5 promoters, 3 passives, 2 detractors of 10: NPS 30, p=.5, d=.2
    result = metric("nps", 10, 5, 2, None)
    margin = 1.96 * 100 * ((0.5 + 0.2 - 0.3**2) / 10) ** 0.5  # 48.4…
    assert result == {
        "n": 10,
        "promoters": 5,
        "passives": 3,
        "detractors": 2,
        "value": 30.0,
        "ci_low": round(30 - margin, 1),
        "ci_high": round(30 + margin, 1),
    }
    assert (result["ci_low"], result["ci_high"]) == (-18.4, 78.4)


def test_words_leave_out_stop_words_and_count_once_per_comment():
    assert words(["The parcel was late, late, LATE!", "Paket kam zu spät", "o pacote atrasou"]) == [
        {"word": "atrasou", "count": 1},
        {"word": "kam", "count": 1},
        {"word": "late", "count": 1},
        {"word": "pacote", "count": 1},
        {"word": "paket", "count": 1},
        {"word": "parcel", "count": 1},
        {"word": "spät", "count": 1},
    ]


@pytest.fixture
def dataset(store):
    """Four NPS answers (two customers, DHL late and UPS on time), one CSAT, one CES."""
    ana = make_customer(store, email="ana@example.com")
    ben = make_customer(store, email="ben@example.com", first_name="Ben")
    first = make_order(store, ana, number="1", placed_at=dt.datetime(2026, 10, 1, tzinfo=UTC))
    make_shipment(store, first, carrier_code="dhl_paket")  # 2 days late
    second = make_order(
        store,
        ana,
        number="2",
        placed_at=dt.datetime(2026, 10, 20, tzinfo=UTC),
        products=(("Trail Mug", "Kitchen"),),
    )
    make_shipment(
        store,
        second,
        carrier_code="ups",
        promised=dt.date(2026, 10, 25),
        delivered=dt.datetime(2026, 10, 24, 10, tzinfo=UTC),
        origin=("NW", "DE"),
    )
    third = make_order(
        store,
        ben,
        number="3",
        placed_at=dt.datetime(2026, 10, 3, tzinfo=UTC),
        products=(("Rain Jacket", "Clothing"),),
    )
    make_shipment(store, third, carrier_code="dhl_paket")
    fourth = make_order(
        store,
        ben,
        number="4",
        placed_at=dt.datetime(2026, 10, 28, tzinfo=UTC),
        products=(("Rain Jacket", "Clothing"),),
    )
    make_shipment(
        store,
        fourth,
        carrier_code="ups",
        promised=dt.date(2026, 11, 2),
        delivered=dt.datetime(2026, 11, 2, 9, tzinfo=UTC),
        origin=("NW", "DE"),
    )
    m1 = survey_message(store, first)
    m2 = survey_message(store, second)
    m3 = survey_message(store, third)
    m4 = survey_message(store, fourth)
    m5 = survey_message(store, fourth, kind="survey_csat")
    m6 = survey_message(store, second, kind="survey_ces")
    unanswered = survey_message(store, third, kind="survey_csat")
    sent = dt.datetime(2026, 10, 30, tzinfo=UTC)
    Message.objects.filter(pk__in=[m.pk for m in (m1, m2, m3, m4, m5, m6, unanswered)]).update(
        status="sent", sent_at=sent
    )
    week1 = dt.datetime(2026, 11, 3, 9, tzinfo=UTC)  # a Tuesday
    week2 = dt.datetime(2026, 11, 10, 9, tzinfo=UTC)
    hour = dt.timedelta(hours=1)
    # The happy answers come first, so they recover nothing (a later one would).
    answer(store, m2, 9, "Fast delivery, lovely mug", week1)
    answer(store, m1, 3, "Parcel arrived late and the box was damaged", week1 + hour)
    answer(store, m4, 10, "Fast and friendly", week2)
    answer(store, m3, 6, "Late parcel again", week2 + hour)
    answer(store, m5, 4, "", week2)
    answer(store, m6, 2, "Return label was hard to find", week2)
    return {"m1": m1, "m3": m3, "m6": m6}


def test_report_numbers_are_exact(store, dataset):
    report = feedback_report(store=store, since=SINCE, until=UNTIL, granularity="week")

    nps = report["summary"]["nps"]
    assert (nps["n"], nps["promoters"], nps["passives"], nps["detractors"], nps["value"]) == (
        4,
        2,
        0,
        2,
        0.0,
    )
    assert (nps["ci_low"], nps["ci_high"]) == (-98.0, 98.0)
    assert report["summary"]["csat"] == {
        "n": 1,
        "promoters": 1,
        "passives": 0,
        "detractors": 0,
        "value": 100.0,
    }
    assert report["summary"]["ces"]["value"] == 2.0
    assert [(r["period"], r["n"], r["value"]) for r in report["over_time"]["nps"]] == [
        ("2026-11-02", 2, 0.0),
        ("2026-11-09", 2, 0.0),
    ]
    carriers = {r["key"]: (r["n"], r["value"]) for r in report["cuts"]["carrier"]["nps"]}
    assert carriers == {"dhl_paket": (2, -100.0), "ups": (2, 100.0)}
    late = {r["key"]: (r["n"], r["value"]) for r in report["cuts"]["late"]["nps"]}
    assert late == {"late": (2, -100.0), "on time": (2, 100.0)}
    customers = {r["key"]: (r["n"], r["value"]) for r in report["cuts"]["customer"]["nps"]}
    assert customers == {"first order": (2, -100.0), "repeat customer": (2, 100.0)}
    lanes = {r["key"]: r["n"] for r in report["cuts"]["lane"]["nps"]}
    assert lanes == {"DE / BE → DE / BY": 2, "DE / NW → DE / BY": 2}
    products = {r["key"]: (r["n"], r["value"]) for r in report["cuts"]["product"]["nps"]}
    assert products == {
        "Trail Mug": (2, 0.0),
        "Wool Socks": (1, -100.0),
        "Rain Jacket": (2, 0.0),
    }
    categories = {r["key"]: (r["n"], r["value"]) for r in report["cuts"]["category"]["nps"]}
    assert categories == {"Kitchen": (2, 0.0), "Clothing": (3, -33.3)}
    assert report["response_rates"] == {
        "nps": {"sent": 4, "answered": 4, "rate": 100.0},
        "csat": {"sent": 2, "answered": 1, "rate": 50.0},
        "ces": {"sent": 1, "answered": 1, "rate": 100.0},
    }
    low = {w["word"]: w["count"] for w in report["themes"]["low"]}
    assert low["late"] == 2 and low["parcel"] == 2
    high = {w["word"]: w["count"] for w in report["themes"]["high"]}
    assert high["fast"] == 2
    assert report["cases"]["opened"] == 3  # NPS 3, NPS 6, CES 2
    assert report["cases"]["open_now"] == 3


def test_case_figures_and_recovery_rate(store, dataset):
    first = DetractorCase.objects.get(answer__message=dataset["m1"])
    case_update(store=store, case_id=first.public_id, action="recovered", note="called her")
    other = DetractorCase.objects.get(answer__message=dataset["m6"])
    case_update(store=store, case_id=other.public_id, action="lost")

    figures = feedback_report(store=store, since=SINCE, until=UNTIL)["cases"]

    assert figures == {
        "opened": 3,
        "by_state": {"open": 1, "contacted": 0, "recovered": 1, "lost": 1},
        "recovered_by": {"ordered_again": 0, "rescored": 0, "staff": 1},
        "recovery_rate": 33.3,
        "open_now": 1,
    }


def test_the_report_of_one_store_ignores_another(store, other_store, dataset):
    report = feedback_report(store=other_store, since=SINCE, until=UNTIL)
    assert report["summary"]["nps"]["n"] == 0
    assert report["cases"]["opened"] == 0


def test_days_late_against_review_rating(store, other_store):
    ana = make_customer(store)
    cases = [
        # (promised, delivered UTC, rating)
        (dt.date(2026, 10, 10), dt.datetime(2026, 10, 6, 12, tzinfo=UTC), 5),  # 4 early
        (dt.date(2026, 10, 10), dt.datetime(2026, 10, 10, 21, 30, tzinfo=UTC), 5),  # 0 (Berlin)
        (dt.date(2026, 10, 10), dt.datetime(2026, 10, 10, 22, 30, tzinfo=UTC), 4),  # 1 (Berlin)
        (dt.date(2026, 10, 10), dt.datetime(2026, 10, 14, 12, tzinfo=UTC), 2),  # 4 late
        (dt.date(2026, 10, 10), dt.datetime(2026, 10, 15, 12, tzinfo=UTC), 1),  # 5 late
        (dt.date(2026, 10, 10), dt.datetime(2026, 11, 5, 12, tzinfo=UTC), 1),  # 26 late
    ]
    for n, (promised, delivered, rating) in enumerate(cases):
        order = make_order(store, ana, number=f"R{n}")
        make_shipment(store, order, promised=promised, delivered=delivered)
        Review.objects.create(
            store=store,
            order=order,
            customer=ana,
            rating=rating,
            source="olist",
            status="published",
            external_id=f"r{n}",
            created_at=dt.datetime(2026, 11, 6, tzinfo=UTC),
        )
    # Not counted: a product review, an order without a delivered parcel, a rejected review.
    undelivered = make_order(store, ana, number="U")
    make_shipment(store, undelivered, delivered=None)
    Review.objects.create(
        store=store,
        order=undelivered,
        rating=1,
        source="olist",
        status="published",
        external_id="u",
    )
    Review.objects.create(
        store=store, order=order, rating=1, source="olist", status="rejected", external_id="x"
    )

    result = feedback_report(store=store, since=SINCE, until=UNTIL)["delay_vs_rating"]

    assert result["reviews"] == 6
    got = {b["key"]: (b["reviews"], b["average"], b["low_share"]) for b in result["buckets"]}
    assert got == {
        "early": (1, 5.0, 0.0),
        "on_time": (1, 5.0, 0.0),
        "late_1_2": (1, 4.0, 0.0),
        "late_3_5": (2, 1.5, 100.0),
        "late_6_10": (0, None, None),
        "late_11_20": (0, None, None),
        "late_21": (1, 1.0, 100.0),
    }
    assert (
        feedback_report(store=other_store, since=SINCE, until=UNTIL)["delay_vs_rating"]["reviews"]
        == 0
    )


def test_the_combined_cuts_equal_one_query_per_dimension(store, dataset):
    from aftersale.feedback.reports import Period, answer_field_cuts, cut

    period = Period(SINCE, UNTIL)
    combined = answer_field_cuts(store, period)
    for dimension in ("carrier", "lane", "late", "customer"):
        assert combined[dimension] == cut(store, period, dimension), dimension
