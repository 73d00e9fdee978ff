"""One-click answers: one answer per survey send, a second click updates it, bad links record
nothing, and every answer carries its snapshot (order, parcel, carrier, lane, products, late,
first or repeat customer)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from aftersale.core.events import dispatch_pending
from aftersale.core.models import OutboxEvent
from aftersale.feedback import tokens
from aftersale.feedback.models import AnswerProduct, DetractorCase, SurveyAnswer
from aftersale.feedback.services import Submission, answer_submit
from aftersale.messaging.models import Message
from tests.feedback.conftest import make_order, make_shipment, survey_message

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)


def click(message, score: int, client=None, **headers):
    client = client or Client()
    return client.get(tokens.score_path(message.public_id, score), headers=headers)


def tampered(path: str) -> str:
    head, signature = path.rsplit(":", 1)
    middle = len(signature) // 2
    swapped = "B" if signature[middle] == "A" else "A"
    return f"{head}:{signature[:middle]}{swapped}{signature[middle + 1 :]}"


@time_machine.travel(NOW, tick=False)
def test_first_click_records_the_score_with_its_snapshot_and_redirects_to_the_page(
    store, order, late_shipment, nps_message
):
    response = click(nps_message, 8)
    dispatch_pending()  # the snapshot is taken by the survey.answered subscriber

    assert response.status_code == 303
    page = tokens.page_path(nps_message.public_id)
    assert response["Location"] == f"{page}?recorded=1"
    answer = SurveyAnswer.objects.get()
    assert (answer.store, answer.message, answer.survey_type) == (store, nps_message, "nps")
    assert (answer.score, answer.first_score, answer.band, answer.score_changes) == (
        8,
        8,
        "passive",
        0,
    )
    assert (answer.order, answer.shipment, answer.customer) == (
        order,
        late_shipment,
        order.customer,
    )
    assert (answer.carrier, answer.lane) == ("dhl_paket", "DE / BE → DE / BY")
    # Delivered on the 7th (Berlin), promised for the 5th: two days late.
    assert (answer.late, answer.days_late, answer.first_order) == (True, 2, True)
    assert sorted(answer.categories) == ["Clothing", "Kitchen"]
    assert len(answer.product_ids) == 2
    assert sorted(AnswerProduct.objects.values_list("title", "category")) == [
        ("Trail Mug", "Kitchen"),
        ("Wool Socks", "Clothing"),
    ]
    assert answer.snapshot_at == NOW
    event = OutboxEvent.objects.get(name="survey.answered")
    assert event.payload == {
        "answer_id": answer.public_id,
        "survey": "nps",
        "score": 8,
        "previous_score": None,
        "band": "passive",
        "message_id": nps_message.public_id,
        "order_id": order.public_id,
        "shipment_id": None,  # the survey is about the order; the snapshot found its parcel
        "customer_id": order.customer.public_id,
    }


@time_machine.travel(NOW, tick=False)
def test_the_same_click_twice_writes_nothing_and_another_score_updates_the_one_answer(
    nps_message,
):
    click(nps_message, 9)
    events = OutboxEvent.objects.count()

    again = click(nps_message, 9)
    assert again.status_code == 303
    assert SurveyAnswer.objects.count() == 1
    assert OutboxEvent.objects.count() == events  # nothing new happened

    click(nps_message, 10)
    answer = SurveyAnswer.objects.get()
    assert (answer.score, answer.first_score, answer.score_changes, answer.band) == (
        10,
        9,
        1,
        "promoter",
    )
    assert list(
        OutboxEvent.objects.filter(name="survey.answered").values_list(
            "payload__score", "payload__previous_score"
        )
    ) == [(9, None), (10, 9)]


@time_machine.travel(NOW, tick=False)
def test_a_tampered_link_records_nothing_and_shows_the_friendly_page(nps_message):
    response = Client().get(tampered(tokens.score_path(nps_message.public_id, 3)))

    assert response.status_code == 404
    assert b"This link does not work" in response.content
    assert response["Content-Type"].startswith("text/html")
    assert not SurveyAnswer.objects.exists()
    assert not DetractorCase.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_link_to_another_messages_kind_or_unknown_message_is_refused(store, order):
    receipt, _ = __import__(
        "aftersale.messaging.services", fromlist=["message_enqueue"]
    ).message_enqueue(store=store, kind="order_confirmation", order=order)
    for message_id in (receipt.public_id, "msg_doesnotexist"):
        response = Client().get(tokens.score_path(message_id, 9))
        assert response.status_code == 404
    assert not SurveyAnswer.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_score_outside_the_scale_is_refused_and_nothing_is_recorded(store, order):
    csat = survey_message(store, order, kind="survey_csat")
    for value in (0, 6, -1, 11):
        response = click(csat, value)
        assert response.status_code == 400
        assert b"This score is not on the scale" in response.content
    assert not SurveyAnswer.objects.exists()
    assert not OutboxEvent.objects.filter(name__startswith="survey.").exists()


def test_an_expired_link_records_nothing(store, nps_message):
    Message.objects.filter(pk=nps_message.pk).update(sent_at=NOW)
    nps_message.refresh_from_db()
    with time_machine.travel(NOW + dt.timedelta(days=30, minutes=1), tick=False):
        response = click(nps_message, 9)
        page = Client().get(tokens.page_path(nps_message.public_id))
    assert response.status_code == 410
    assert b"This survey has closed" in response.content
    assert page.status_code == 410
    assert not SurveyAnswer.objects.exists()
    with time_machine.travel(NOW + dt.timedelta(days=29), tick=False):
        assert click(nps_message, 9).status_code == 303
    assert SurveyAnswer.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_prefetch_and_head_requests_record_nothing(nps_message):
    head = Client().head(tokens.score_path(nps_message.public_id, 0))
    prefetch = click(nps_message, 0, **{"Sec-Purpose": "prefetch"})

    page = tokens.page_path(nps_message.public_id)
    assert (head.status_code, head["Location"]) == (303, f"{page}?score=0")
    assert (prefetch.status_code, prefetch["Location"]) == (303, f"{page}?score=0")
    assert not SurveyAnswer.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_page_post_changes_the_score_and_saves_the_comment_once(nps_message):
    client = Client()
    click(nps_message, 4, client)
    page = tokens.page_path(nps_message.public_id)
    shown = client.get(f"{page}?recorded=1")
    assert shown.status_code == 200
    assert b"We are sorry. What went wrong?" in shown.content
    assert b'value="4" data-band="detractor" checked' in shown.content

    for _ in range(2):  # a double submit
        response = client.post(page, {"score": "7", "comment": "Slow, but fine."})
        assert response.status_code == 303
        assert response["Location"] == f"{page}?thanks=1"

    answer = SurveyAnswer.objects.get()
    assert (answer.score, answer.comment, answer.band, answer.score_changes) == (
        7,
        "Slow, but fine.",
        "passive",
        1,
    )
    thanks = client.get(f"{page}?thanks=1")
    assert b"Thank you for your feedback" in thanks.content


@time_machine.travel(NOW, tick=False)
def test_page_post_without_a_score_or_off_scale_is_refused_with_the_field_named(nps_message):
    page = tokens.page_path(nps_message.public_id)
    missing = Client().post(page, {"comment": "hello"})
    off = Client().post(page, {"score": "11", "comment": "hello"})

    assert missing.status_code == 422
    assert b"Please choose a score." in missing.content
    assert off.status_code == 422
    assert b"Please choose a score from 0 to 10." in off.content
    assert b"hello" in off.content  # what the shopper wrote is kept
    assert not SurveyAnswer.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_service_refuses_off_scale_scores_and_writes_nothing(store, nps_message):
    from aftersale.core.services import DomainError

    with pytest.raises(DomainError) as caught:
        answer_submit(store=store, message=nps_message, submission=Submission(score=11))
    assert caught.value.field == "score"
    assert not SurveyAnswer.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_repeat_customer_on_time_delivery_snapshot(store, customer):
    make_order(store, customer, number="0999", placed_at=NOW - dt.timedelta(days=60))
    second = make_order(store, customer, number="1002", placed_at=NOW - dt.timedelta(days=6))
    make_shipment(
        store,
        second,
        promised=dt.date(2026, 11, 8),
        delivered=dt.datetime(2026, 11, 8, 22, 30, tzinfo=dt.UTC),  # the 8th, 23:30 in Berlin
    )
    message = survey_message(store, second, kind="survey_csat")
    click(message, 5)
    dispatch_pending()

    answer = SurveyAnswer.objects.get()
    assert (answer.late, answer.days_late, answer.first_order, answer.band) == (
        False,
        0,
        False,
        "promoter",
    )


def test_survey_links_in_the_sent_email_lead_to_the_recording_endpoint(store, nps_message):
    from aftersale.messaging.sending import build_email

    _, rendered, _ = build_email(Message.objects.get(pk=nps_message.pk))

    paths = [urlsplit(tokens.score_url(nps_message.public_id, v)).path for v in range(11)]
    for path in paths:
        assert path in rendered.text
    assert "How likely are you to recommend Acme Outdoor to a friend?" in rendered.text
    assert 'aria-label="7 of 10"' in rendered.html
    assert 'aria-label="0 of 10 – Not at all likely"' in rendered.html


def test_feedback_request_leads_to_the_survey_page(store, order):
    from aftersale.messaging.sending import build_email
    from aftersale.messaging.services import message_enqueue

    message, _ = message_enqueue(store=store, kind="feedback_request", order=order)
    _, rendered, _ = build_email(message)

    assert tokens.page_url(message.public_id) in rendered.text


def test_events_dispatch_without_error(store, nps_message):
    with time_machine.travel(NOW, tick=False):
        click(nps_message, 2)
    while dispatch_pending():  # survey.answered, then the survey.detractor it raised
        pass
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert not OutboxEvent.objects.filter(failed_at__isnull=False).exists()


@time_machine.travel(NOW, tick=False)
def test_racing_clicks_update_the_one_answer(store, nps_message):
    """Two clicks that both read "not answered yet" (or the same old score): the second one's
    insert (or conditional update) fails and the locked path updates the one answer."""
    from aftersale.feedback.selectors import click_target
    from aftersale.feedback.services import answer_click

    target = click_target(nps_message.public_id)
    assert target.current is None
    message, survey = target.build()
    answer_click(message=message, survey=survey, score=3, current=None)
    answer_click(message=message, survey=survey, score=5, current=None)  # stale read
    answer = SurveyAnswer.objects.get()
    assert (answer.score, answer.first_score, answer.score_changes) == (5, 3, 1)

    answer_click(message=message, survey=survey, score=9, current=(answer.public_id, 3))  # stale
    answer.refresh_from_db()
    assert (answer.score, answer.score_changes) == (9, 2)
    assert SurveyAnswer.objects.count() == 1
    assert list(
        OutboxEvent.objects.filter(name="survey.answered").values_list(
            "payload__score", "payload__previous_score"
        )
    ) == [(3, None), (5, 3), (9, 5)]


def test_the_answer_day_is_the_stores_local_date(store, nps_message):
    # 23:30 UTC on the 9th is already the 10th in Berlin (the store's zone).
    with time_machine.travel(dt.datetime(2026, 11, 9, 23, 30, tzinfo=dt.UTC), tick=False):
        click(nps_message, 9)
    assert SurveyAnswer.objects.get().answered_on == dt.date(2026, 11, 10)
