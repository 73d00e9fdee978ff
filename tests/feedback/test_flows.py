"""What flows can use from feedback: the proposed survey flows parse, the triggers and fields are
discovered, and the fields answer from the shopper's latest answer."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from aftersale.core import clock
from aftersale.core.events import dispatch_pending
from aftersale.feedback.flows import FLOWS
from aftersale.feedback.services import Submission, answer_submit
from aftersale.journeys.definition import TRIGGER_EVENTS, parse_definition
from aftersale.journeys.fields import Facts, field_names, field_value

NOW = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("flow", FLOWS, ids=[f["key"] for f in FLOWS])
def test_the_proposed_flows_parse(flow):
    definition = parse_definition(flow["definition"])
    assert definition.trigger.event == flow["definition"]["trigger"]["event"]


def test_triggers_and_fields_are_discovered():
    assert {"survey.answered", "survey.detractor"} <= set(TRIGGER_EVENTS)
    assert {
        "survey.last_score",
        "survey.last_type",
        "survey.last_band",
        "customer.is_promoter",
        "customer.has_open_detractor_case",
    } <= field_names()


@pytest.mark.django_db
def test_fields_read_the_latest_answer_up_to_the_moment_asked(store, order, nps_message):
    facts = Facts(store=store, now=NOW, order=order, customer=order.customer)
    assert field_value("survey.last_score", facts) is None
    assert field_value("customer.is_promoter", facts) is False

    with time_machine.travel(NOW, tick=False):
        answer_submit(store=store, message=nps_message, submission=Submission(score=10))
        dispatch_pending()
    later = Facts(store=store, now=clock.now(), order=order, customer=order.customer)
    earlier = Facts(store=store, now=NOW - dt.timedelta(hours=1), customer=order.customer)

    assert field_value("survey.last_score", later) == 10
    assert field_value("survey.last_type", later) == "nps"
    assert field_value("customer.is_promoter", later) is True
    assert field_value("customer.has_open_detractor_case", later) is False
    assert field_value("survey.last_score", earlier) is None


@pytest.mark.django_db
def test_a_detractor_has_an_open_case_field(store, order, nps_message):
    with time_machine.travel(NOW, tick=False):
        answer_submit(store=store, message=nps_message, submission=Submission(score=1))
        dispatch_pending()
    facts = Facts(store=store, now=clock.now(), order=order, customer=order.customer)
    assert field_value("customer.has_open_detractor_case", facts) is True
    assert field_value("survey.last_band", facts) == "detractor"


@pytest.fixture
def no_builtin_flows(settings):
    settings.AFTERSALE_JOURNEYS_BUILTIN_FLOWS = False


@pytest.mark.django_db
def test_a_promoter_is_asked_for_a_review_and_a_detractor_is_not(
    store, customer, no_builtin_flows, time_machine
):
    """End to end through the flow engine: survey.answered starts the promoter flow."""
    from aftersale.journeys.models import Enrolment
    from aftersale.journeys.runner import run_until_idle
    from aftersale.journeys.services import flow_create
    from aftersale.messaging.models import Message
    from tests.feedback.conftest import make_order, survey_message

    spec = next(f for f in FLOWS if f["key"] == "promoter-review")
    flow_create(store=store, key=spec["key"], name=spec["name"], definition=spec["definition"])
    happy = make_order(store, customer, number="1")
    unhappy = make_order(store, customer, number="2")
    time_machine.move_to(NOW, tick=False)
    answer_submit(store=store, message=survey_message(store, unhappy), submission=Submission(2))
    while dispatch_pending():
        pass
    assert not Enrolment.objects.exists()

    answer_submit(store=store, message=survey_message(store, happy), submission=Submission(10))
    while dispatch_pending():
        pass
    enrolment = Enrolment.objects.get()
    assert (enrolment.flow.key, enrolment.order) == ("promoter-review", happy)
    time_machine.move_to(NOW + dt.timedelta(hours=2), tick=False)
    run_until_idle()

    review = Message.objects.get(kind="review_request")
    assert (review.order, review.customer) == (happy, customer)
