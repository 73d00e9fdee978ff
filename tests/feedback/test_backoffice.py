"""The desk (/admin/feedback/desk/) and the JSON API: store-scoped, comments escaped, case actions
through the service, the report's numbers the same as reports.feedback_report."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from aftersale.core.events import dispatch_pending
from aftersale.core.models import StoreMember
from aftersale.feedback.models import DetractorCase
from aftersale.feedback.services import Submission, answer_submit
from tests.feedback.conftest import make_customer, make_order, make_shipment, survey_message

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def staff_client(store, username="maria"):
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="feedback"))
    StoreMember.objects.create(store=store, user=user, role=StoreMember.Role.OWNER)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def case(store, nps_message):
    with time_machine.travel(NOW, tick=False):
        answer_submit(store=store, message=nps_message, submission=Submission(score=2, comment=XSS))
        dispatch_pending()
    return DetractorCase.objects.get()


def test_report_page_shows_the_stores_figures(store, case):
    client, _ = staff_client(store)

    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        response = client.get(reverse("feedback_backoffice:report"), {"period": "30"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Customer feedback" in html
    assert "<strong>-100</strong>" in html  # one detractor: NPS −100
    assert "Open detractor cases" in html
    assert "Days late vs rating" in html
    assert "<script>alert" not in html  # comment words are shown escaped only


def test_report_of_a_store_that_is_not_mine_is_a_404(store, other_store, case):
    client, _ = staff_client(other_store, "otto")
    response = client.get(reverse("feedback_backoffice:report"), {"store": store.slug})
    assert response.status_code == 404


def test_case_page_escapes_the_comment_and_shows_the_history(store, case):
    client, _ = staff_client(store)

    response = client.get(reverse("feedback_backoffice:case", args=[case.public_id]))

    assert response.status_code == 200
    html = response.content.decode()
    assert XSS not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "NPS 2" in html
    assert "Messages about the order" in html
    assert "survey_nps" in html
    assert case.order.number in html


def test_case_actions_go_through_the_service(store, case):
    client, user = staff_client(store)
    url = reverse("feedback_backoffice:case", args=[case.public_id])

    client.post(url, {"action": "assign", "owner": str(user.pk)})
    client.post(url, {"action": "contacted", "note": "Called her"})
    response = client.post(url, {"action": "contacted"})  # twice: refused, nothing changes

    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.owner) == ("contacted", user)
    assert list(case.entries.values_list("action", flat=True)) == [
        "opened",
        "assigned",
        "contacted",
    ]


def test_another_stores_staff_cannot_see_or_change_the_case(store, other_store, case):
    client, _ = staff_client(other_store, "otto")
    url = reverse("feedback_backoffice:case", args=[case.public_id])

    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "lost"}).status_code == 404
    case.refresh_from_db()
    assert case.state == "open"
    listing = client.get(reverse("feedback_backoffice:cases"))
    assert case.public_id not in listing.content.decode()


def test_case_list_filters_by_state(store, case):
    client, _ = staff_client(store)
    open_list = client.get(reverse("feedback_backoffice:cases"))
    lost_list = client.get(reverse("feedback_backoffice:cases"), {"state": "lost"})
    assert case.public_id in open_list.content.decode()
    assert case.public_id not in lost_list.content.decode()


def test_admin_lists_answers_and_cases_of_my_store_only(store, other_store, case):
    client, _ = staff_client(store)
    other_client, _ = staff_client(other_store, "otto")

    mine = client.get(reverse("admin:feedback_detractorcase_changelist"))
    theirs = other_client.get(reverse("admin:feedback_detractorcase_changelist"))

    assert case.public_id in mine.content.decode()
    assert case.public_id not in theirs.content.decode()
    assert client.get(reverse("admin:feedback_surveyanswer_changelist")).status_code == 200


# -- API ------------------------------------------------------------------------------------


def test_api_report_matches_the_desk(store, api, case):
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        response = api.get("/api/v1/feedback/report", {"granularity": "month"})

    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["nps"] == {
        "n": 1,
        "promoters": 0,
        "passives": 0,
        "detractors": 1,
        "value": -100.0,
        "ci_low": -100.0,
        "ci_high": -100.0,
    }
    assert body["over_time"]["nps"][0]["period"] == "2026-11-01"
    assert body["cases"]["open_now"] == 1
    assert body["cuts"]["late"]["nps"][0]["key"] == "late"


def test_api_refuses_bad_parameters(api):
    response = api.get(
        "/api/v1/feedback/report",
        {"since": "2026-11-10T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert api.get("/api/v1/feedback/report", {"granularity": "day"}).status_code == 422


def test_api_cases_are_the_keys_stores_only(store, api, other_api, case):
    mine = api.get("/api/v1/feedback/cases").json()["data"]
    theirs = other_api.get("/api/v1/feedback/cases").json()["data"]

    assert [c["id"] for c in mine] == [case.public_id]
    assert mine[0]["comment"] == XSS  # JSON carries the text as written
    assert theirs == []


def test_api_report_all_time_includes_old_answers(store, api, customer):
    old = make_order(store, customer, number="900")
    make_shipment(store, old)
    message = survey_message(store, old, kind="survey_csat")
    with time_machine.travel(dt.datetime(2025, 1, 5, tzinfo=dt.UTC), tick=False):
        answer_submit(store=store, message=message, submission=Submission(score=5))
        dispatch_pending()
    make_customer(store, email="x@example.com")

    recent = api.get("/api/v1/feedback/report").json()
    everything = api.get("/api/v1/feedback/report", {"all_time": "true"}).json()

    assert recent["summary"]["csat"]["n"] == 0
    assert everything["summary"]["csat"]["n"] == 1
    assert everything["since"] is None


def test_survey_settings_in_the_admin_refuse_crossed_thresholds(store):
    from aftersale.feedback.models import Survey

    client, _ = staff_client(store)
    survey = Survey.objects.create(store=store, type="nps")
    url = reverse("admin:feedback_survey_change", args=[survey.pk])
    assert client.get(reverse("admin:feedback_survey_changelist")).status_code == 200
    assert client.get(url).status_code == 200

    response = client.post(
        url,
        {
            "store": store.pk,
            "type": "nps",
            "question": "{}",
            "follow_up_low": "{}",
            "follow_up_mid": "{}",
            "follow_up_high": "{}",
            "detractor_max": "8",
            "promoter_min": "7",
            "link_valid_days": "30",
            "questions-TOTAL_FORMS": "0",
            "questions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "promoters must start above the detractors" in response.content.decode()
    survey.refresh_from_db()
    assert (survey.detractor_max, survey.promoter_min) == (None, None)
