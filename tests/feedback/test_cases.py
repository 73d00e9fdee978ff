"""Closing the loop: a detractor opens a case (owner, alert to the merchant, survey.detractor
event), staff move it along, and it is recovered when the shopper orders again or scores higher."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model

from aftersale.core.events import dispatch_pending
from aftersale.core.models import OutboxEvent, StoreMember
from aftersale.core.services import Conflict, DomainError
from aftersale.feedback.models import CaseEntry, DetractorCase, Survey
from aftersale.feedback.services import Submission, answer_submit, case_update
from aftersale.messaging.models import Message
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)


def score(store, message, value, at=NOW, comment=None):
    """Answer, then let the outbox run the follow-up (snapshot, case) like the worker does."""
    with time_machine.travel(at, tick=False):
        answer = answer_submit(
            store=store, message=message, submission=Submission(score=value, comment=comment)
        )[0]
        dispatch_pending()
    answer.refresh_from_db()
    return answer


@pytest.fixture
def owner(store):
    user = get_user_model().objects.create_user("maria", "maria@acme.example", is_staff=True)
    StoreMember.objects.create(store=store, user=user, role=StoreMember.Role.OWNER)
    return user


def test_a_detractor_opens_one_case_with_owner_alert_and_event(store, owner, nps_message):
    store.support_email = "help@acme.example"
    store.save()

    answer = score(store, nps_message, 4, comment="Late and nobody answered")
    score(store, nps_message, 5, at=NOW + dt.timedelta(minutes=1))  # still a detractor

    case = DetractorCase.objects.get()
    assert (case.store, case.answer, case.state, case.owner) == (store, answer, "open", owner)
    assert (case.order, case.customer) == (nps_message.order, nps_message.order.customer)
    assert list(CaseEntry.objects.values_list("action", "detail")) == [
        ("opened", "NPS score 4"),
        ("assigned", "to maria"),
    ]
    event = OutboxEvent.objects.get(name="survey.detractor")
    assert event.payload["case_id"] == case.public_id
    assert event.payload["order_id"] == nps_message.order.public_id
    alert = Message.objects.get(kind="detractor_alert")
    assert (alert.recipient, alert.customer, alert.order, alert.context) == (
        "help@acme.example",
        None,
        None,
        {"case_id": case.public_id},
    )


def test_the_alert_email_renders_the_case(store, owner, nps_message):
    from aftersale.messaging.sending import build_email

    store.support_email = "help@acme.example"
    store.save()
    score(store, nps_message, 2, comment="<script>alert(1)</script> box broken")
    alert = Message.objects.get(kind="detractor_alert")

    _, rendered, _ = build_email(alert)

    case = DetractorCase.objects.get()
    # The store speaks German (its default locale), so the alert does too.
    assert rendered.subject == "Unzufriedener Kunde: NPS 2 zu Bestellung #1001"
    assert f"/admin/feedback/desk/cases/{case.public_id}/" in rendered.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; box broken" in rendered.html
    assert "<script>alert(1)" not in rendered.html


def test_no_alert_when_switched_off_or_without_support_address(store, nps_message):
    Survey.objects.create(store=store, type="nps", alert_email=False)
    store.support_email = "help@acme.example"
    store.save()
    score(store, nps_message, 1)
    assert DetractorCase.objects.count() == 1
    assert not Message.objects.filter(kind="detractor_alert").exists()


def test_thresholds_are_per_store(store, nps_message):
    Survey.objects.create(store=store, type="nps", detractor_max=4, promoter_min=8)
    answer = score(store, nps_message, 5)
    assert answer.band == "passive"
    assert not DetractorCase.objects.exists()
    answer = score(store, nps_message, 8, at=NOW + dt.timedelta(minutes=1))
    assert answer.band == "promoter"


def test_passives_and_promoters_open_no_case(store, nps_message):
    score(store, nps_message, 7)
    assert not DetractorCase.objects.exists()
    assert not OutboxEvent.objects.filter(name="survey.detractor").exists()


def test_rescoring_higher_recovers_the_case(store, nps_message):
    score(store, nps_message, 3)
    score(store, nps_message, 9, at=NOW + dt.timedelta(hours=2))

    case = DetractorCase.objects.get()
    assert (case.state, case.closed_reason) == ("recovered", "rescored")
    assert case.entries.last().detail == "re-scored 3 → 9"
    assert OutboxEvent.objects.filter(name="survey.case_updated").count() == 1


def test_ordering_again_recovers_the_case_through_the_event(store, order, nps_message):
    score(store, nps_message, 2)
    dispatch_pending()
    with time_machine.travel(NOW + dt.timedelta(days=3), tick=False):
        again = order_upsert(
            store=store,
            data=OrderIn(
                external_id="2001",
                number="#2001",
                placed_at=(NOW + dt.timedelta(days=3)).isoformat(),
                customer={"email": order.customer.email},
                email=order.customer.email,
                lines=[{"title": "Trail Mug", "unit_price": "19.90", "quantity": 1}],
            ),
        ).order
    assert again.customer_id == order.customer_id

    dispatch_pending()
    dispatch_pending()  # handled once: the second run changes nothing

    case = DetractorCase.objects.get()
    assert (case.state, case.closed_reason, case.recovery_order) == (
        "recovered",
        "ordered_again",
        again,
    )
    assert list(case.entries.values_list("action", flat=True)) == ["opened", "recovered"]
    assert not OutboxEvent.objects.filter(failed_at__isnull=False).exists()


def test_staff_move_a_case_along_and_wrong_moves_are_refused(store, owner, nps_message):
    score(store, nps_message, 1)
    case = DetractorCase.objects.get()

    case_update(
        store=store,
        case_id=case.public_id,
        action="contacted",
        actor=owner,
        note="Called, sending a new one",
    )
    case_update(store=store, case_id=case.public_id, action="note", actor=owner, note="Shipped")
    case_update(store=store, case_id=case.public_id, action="lost", actor=owner)
    with pytest.raises(Conflict):
        case_update(store=store, case_id=case.public_id, action="contacted", actor=owner)
    with pytest.raises(DomainError) as bad:
        case_update(store=store, case_id=case.public_id, action="explode", actor=owner)
    assert bad.value.field == "action"

    case.refresh_from_db()
    assert (case.state, case.closed_reason) == ("lost", "staff")
    assert case.contacted_at is not None
    assert list(case.entries.values_list("action", "detail")) == [
        ("opened", "NPS score 1"),
        ("assigned", "to maria"),
        ("contacted", "Called, sending a new one"),
        ("note", "Shipped"),
        ("lost", ""),
    ]


def test_the_owner_must_be_staff_of_the_store(store, other_store, owner, nps_message):
    stranger = get_user_model().objects.create_user("otto", is_staff=True)
    StoreMember.objects.create(store=other_store, user=stranger)
    score(store, nps_message, 1)
    case = DetractorCase.objects.get()

    with pytest.raises(DomainError) as refused:
        case_update(store=store, case_id=case.public_id, action="assign", owner_id=stranger.pk)

    assert refused.value.field == "owner"
    case.refresh_from_db()
    assert case.owner == owner
    with pytest.raises(DomainError):  # another store's case is not found from this store
        case_update(store=other_store, case_id=case.public_id, action="lost")
    case.refresh_from_db()
    assert case.state == "open"
