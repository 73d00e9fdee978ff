"""Writes of the feedback app: answers from survey links and pages, and the detractor cases they
open (assign, contact, recover, lose).

Check, then do: `answer_submit_check` refuses a score off the scale or a bad extra answer and
writes nothing; `answer_submit` records under a row lock, so a second click (or a click racing a
page submission) updates the one answer of the message instead of adding another.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from aftersale.core import clock
from aftersale.core.events import emit
from aftersale.core.group_commit import run_grouped
from aftersale.core.models import Store, StoreMember
from aftersale.core.services import Conflict, DomainError, NotFound
from aftersale.feedback.models import (
    SCALES,
    AnswerProduct,
    CaseEntry,
    DetractorCase,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
)
from aftersale.feedback.selectors import KIND_SURVEY, active_questions, survey_settings
from aftersale.messaging.models import Message
from aftersale.messaging.services import message_enqueue
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment

COMMENT_MAX = 2000
EXTRA_MAX = 500


def survey_for(store: Store, survey_type: str) -> Survey:
    """The store's survey of this type, made with the defaults on first use."""
    survey = Survey.objects.filter(store=store, type=survey_type).first()
    if survey is not None:
        return survey
    try:
        with transaction.atomic():
            return Survey.objects.create(store=store, type=survey_type)
    except IntegrityError:
        return Survey.objects.get(store=store, type=survey_type)


def survey_of_message(message: Message) -> Survey:
    survey_type = KIND_SURVEY.get(message.kind)
    if survey_type is None:
        raise NotFound("this message is not a survey")
    return survey_settings(message.store, survey_type)


def link_expires_at(survey: Survey, message: Message) -> dt.datetime:
    sent = message.sent_at or message.due_at or message.created_at
    return sent + dt.timedelta(days=survey.link_valid_days)


# -- answering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    score: int
    comment: str | None = None  # None: leave the comment as it is (a link click)
    extras: dict | None = None


def answer_submit_check(
    *, survey: Survey, message: Message, submission: Submission, now: dt.datetime | None = None
) -> list[SurveyQuestion]:
    """Refuse what cannot be recorded; returns the survey's active extra questions."""
    if message.store_id != survey.store_id:
        raise NotFound("no such survey")
    if now is not None and now > link_expires_at(survey, message):
        raise Conflict("this survey link has expired", field="token")
    score = submission.score
    if isinstance(score, bool) or not isinstance(score, int):
        raise DomainError("the score must be a whole number", field="score")
    if not survey.low <= score <= survey.high:
        raise DomainError(
            f"the score must be between {survey.low} and {survey.high}", field="score"
        )
    if submission.comment is not None and len(submission.comment) > COMMENT_MAX:
        raise DomainError(f"the comment is longer than {COMMENT_MAX} characters", field="comment")
    if not submission.extras:
        return []
    questions = active_questions(survey)
    for key, value in submission.extras.items():
        question = next((q for q in questions if q.public_id == key), None)
        if question is None:
            raise DomainError(f"unknown question {key}", field=key)
        if question.kind == SurveyQuestion.Kind.CHOICE:
            allowed = {str(c.get("value")) for c in question.choices}
            if value and value not in allowed:
                raise DomainError("pick one of the offered answers", field=key)
        elif len(value) > EXTRA_MAX:
            raise DomainError(f"the answer is longer than {EXTRA_MAX} characters", field=key)
    return questions


def answer_submit(
    *,
    store: Store,
    message: Message,
    submission: Submission,
    now: dt.datetime | None = None,
    survey: Survey | None = None,
) -> tuple[SurveyAnswer, bool]:
    """Record a score (and comment / extra answers) for a survey message. Returns (answer, changed);
    the same score clicked twice changes nothing and writes nothing."""
    now = now or clock.now()
    survey = survey or survey_of_message(message)
    answer_submit_check(survey=survey, message=message, submission=submission, now=now)
    current = SurveyAnswer.objects.filter(message=message).first()
    if current is not None and _unchanged(current, submission):
        return current, False
    try:
        with transaction.atomic():
            return _write_answer(store, survey, message, submission, now)
    except IntegrityError:
        # Two first clicks at once: the other one created the answer; update it instead.
        with transaction.atomic():
            return _write_answer(store, survey, message, submission, now)


def answer_click(
    *,
    message: Message,
    survey: Survey,
    score: int,
    current: tuple[str, int] | None,
    now: dt.datetime | None = None,
) -> bool:
    """The one-click link's write: answer_submit for a bare score when the caller has just read
    the current answer (`current`: its public id and score, None when not answered). The same
    score writes nothing; a new answer is one INSERT, a changed score one conditional UPDATE —
    and if another click got there in between, the locked path of answer_submit decides.
    Returns whether anything changed."""
    now = now or clock.now()
    submission = Submission(score=score)
    answer_submit_check(survey=survey, message=message, submission=submission, now=now)
    if current is not None and current[1] == score:
        return False
    store = message.store
    band = survey.band(score)
    if current is None:

        def insert_answer() -> bool:
            answer = SurveyAnswer(
                store=store,
                survey_type=survey.type,
                message=message,
                score=score,
                first_score=score,
                band=band,
                locale=message.locale,
                order=message.order if message.order_id else None,
                shipment=message.shipment if message.shipment_id else None,
                customer=message.customer if message.customer_id else None,
                answered_at=now,
                answered_on=_local_date(now, store.time_zone),
                updated_at=now,
            )
            answer.save(force_insert=True)
            _answered(store, answer, previous=None)
            return True

        try:
            # A survey goes to a whole customer list at once, and its clicks come in bursts.
            return run_grouped(insert_answer)
        except IntegrityError:
            # Another click created it first: the locked path updates that one.
            return answer_submit(
                store=store, message=message, submission=submission, now=now, survey=survey
            )[1]
    public_id, previous = current

    def change_score() -> bool:
        changed = SurveyAnswer.objects.filter(message=message, score=previous).update(
            score=score, band=band, score_changes=F("score_changes") + 1, updated_at=now
        )
        if changed != 1:
            return False
        answer = SurveyAnswer(
            public_id=public_id, survey_type=survey.type, score=score, band=band, message=message
        )
        _answered(store, answer, previous=previous)
        return True

    if run_grouped(change_score):
        return True
    # The answer changed since it was read: the locked path decides.
    return answer_submit(
        store=store, message=message, submission=submission, now=now, survey=survey
    )[1]


def _unchanged(answer: SurveyAnswer, submission: Submission) -> bool:
    return (
        answer.score == submission.score
        and (submission.comment is None or submission.comment == answer.comment)
        and (submission.extras is None or submission.extras == answer.extras)
    )


def _write_answer(store, survey, message, submission, now) -> tuple[SurveyAnswer, bool]:
    """The answer row and its survey.answered event; the snapshot and the detractor case follow
    in the event's subscriber (answer_follow_up), off the shopper's click."""
    answer = SurveyAnswer.objects.select_for_update().filter(message=message).first()
    band = survey.band(submission.score)
    if answer is None:
        answer = SurveyAnswer(
            store=store,
            survey_type=survey.type,
            message=message,
            score=submission.score,
            first_score=submission.score,
            band=band,
            comment=submission.comment or "",
            extras=submission.extras or {},
            locale=message.locale,
            order=message.order if message.order_id else None,
            shipment=message.shipment if message.shipment_id else None,
            customer=message.customer if message.customer_id else None,
            answered_at=now,
            answered_on=_local_date(now, store.time_zone),
            updated_at=now,
            commented_at=now if submission.comment else None,
        )
        answer.save()
        _answered(store, answer, previous=None)
        return answer, True
    if _unchanged(answer, submission):
        return answer, False
    previous = answer.score
    fields = ["updated_at"]
    answer.updated_at = now
    if submission.score != answer.score:
        answer.score = submission.score
        answer.band = band
        answer.score_changes += 1
        fields += ["score", "band", "score_changes"]
    if submission.comment is not None and submission.comment != answer.comment:
        answer.comment = submission.comment
        answer.commented_at = now
        fields += ["comment", "commented_at"]
    if submission.extras is not None and submission.extras != answer.extras:
        answer.extras = submission.extras
        fields.append("extras")
    answer.save(update_fields=fields)
    if previous != answer.score:
        answer.message = message
        _answered(store, answer, previous=previous)
    return answer, True


def _answered(store, answer: SurveyAnswer, *, previous: int | None) -> None:
    message = answer.message
    emit(
        store=store,
        name="survey.answered",
        aggregate=f"answer:{answer.public_id}",
        payload={
            "answer_id": answer.public_id,
            "survey": answer.survey_type,
            "score": answer.score,
            "previous_score": previous,
            "band": answer.band,
            "message_id": message.public_id,
            "order_id": message.order.public_id if message.order_id else None,
            "shipment_id": message.shipment.public_id if message.shipment_id else None,
            "customer_id": message.customer.public_id if message.customer_id else None,
        },
    )


def _place(region: str, country: str) -> str:
    parts = [p for p in (country, region) if p]
    return " / ".join(parts) if parts else "—"


def _local_date(value: dt.datetime, zone: str) -> dt.date:
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return value.astimezone(tz).date()


def _snapshot(store: Store, answer: SurveyAnswer) -> dict:
    """What the answer is about, frozen once after the first answer (the order may change)."""
    order = answer.order
    shipment = answer.shipment
    explicit_shipment = answer.shipment_id is not None  # the survey was about this parcel
    out: dict = {
        "customer_id": answer.customer_id or (order.customer_id if order else None),
        "shipment": shipment,
        "carrier": "",
        "lane": "",
        "product_ids": [],
        "categories": [],
        "late": None,
        "days_late": None,
        "first_order": None,
        "_products": [],
    }
    if order is None:
        return out
    shipments = list(Shipment.objects.filter(store=store, order=order).order_by("id"))
    if shipment is None and shipments:
        delivered = [s for s in shipments if s.delivered_at is not None]
        shipment = max(delivered, key=lambda s: s.delivered_at) if delivered else shipments[-1]
    worst: int | None = None
    for parcel in [shipment] if explicit_shipment else shipments:
        if parcel is None or parcel.delivered_at is None:
            continue
        promise = parcel.promised_delivery_date or parcel.estimated_delivery_date
        if promise is None:
            continue
        days = (_local_date(parcel.delivered_at, store.time_zone) - promise).days
        worst = days if worst is None else max(worst, days)
    if worst is not None:
        out["late"] = worst > 0
        out["days_late"] = max(worst, 0)
    if shipment is not None:
        out["shipment"] = shipment
        out["carrier"] = (shipment.carrier_code or shipment.carrier)[:60]
        origin = _place(shipment.origin_region, shipment.origin_country)
        destination = _place(shipment.destination_region, shipment.destination_country)
        out["lane"] = f"{origin} → {destination}"[:120]
    seen: dict[str, tuple] = {}
    for line in order.lines.select_related("product").order_by("id"):
        product = line.product
        title = product.title if product else line.title
        key = product.public_id if product else f"title:{title}"
        seen.setdefault(
            key, (product.pk if product else None, title, product.category if product else "")
        )
    out["_products"] = list(seen.values())
    out["product_ids"] = [k for k in seen if not k.startswith("title:")]
    out["categories"] = sorted({c for _, _, c in seen.values() if c})
    customer_id = out["customer_id"]
    if customer_id:
        earlier = (
            Order.objects.filter(
                store=store, customer_id=customer_id, placed_at__lte=order.placed_at
            )
            .exclude(status=Order.Status.CANCELLED)
            .exclude(pk=order.pk)
            .exists()
        )
        out["first_order"] = not earlier
    return out


def answer_follow_up(*, store: Store, payload: dict, at: dt.datetime) -> None:
    """What follows a survey.answered event (its subscriber; idempotent): the answer's snapshot
    (once), then the detractor case — opened by a detractor score, recovered by a higher one,
    reopened when the shopper goes back to a detractor score."""
    answer = (
        SurveyAnswer.objects.select_for_update(of=("self",))
        .select_related("order", "shipment")
        .filter(store=store, public_id=payload.get("answer_id"))
        .first()
    )
    if answer is None:
        return
    if answer.snapshot_at is None:
        snapshot = _snapshot(store, answer)
        products = snapshot.pop("_products")
        for field, value in snapshot.items():
            setattr(answer, field, value)
        answer.snapshot_at = at
        answer.save(update_fields=[*snapshot, "snapshot_at"])
        categories: set[str] = set()
        rows = []
        for pid, title, category in products:
            rows.append(
                AnswerProduct(
                    store=store,
                    answer=answer,
                    product_id=pid,
                    title=title[:300],
                    category=category,
                    first_of_category=category not in categories,
                )
            )
            categories.add(category)
        AnswerProduct.objects.bulk_create(rows, ignore_conflicts=True)
    score, previous, band = payload["score"], payload.get("previous_score"), payload["band"]
    case = DetractorCase.objects.select_for_update().filter(answer=answer).first()
    if band == SurveyAnswer.Band.DETRACTOR:
        if case is None:
            _case_open(store, survey_settings(store, answer.survey_type), answer, score, at)
        elif not case.is_open:
            _case_move(
                case,
                DetractorCase.State.OPEN,
                at,
                action="reopened",
                detail=f"scored {score} again",
            )
        return
    if case is not None and case.is_open and (previous is None or score > previous):
        _case_close(
            case,
            DetractorCase.State.RECOVERED,
            DetractorCase.Reason.RESCORED,
            at,
            detail=f"re-scored {previous} → {score}",
        )
    # A happier answer from the same shopper later on recovers their earlier open cases.
    if answer.customer_id:
        others = (
            DetractorCase.objects.select_for_update(of=("self",))
            .filter(
                store=store,
                customer_id=answer.customer_id,
                state__in=DetractorCase.OPEN_STATES,
                opened_at__lt=at,
                answer__survey_type=answer.survey_type,
            )
            .exclude(answer=answer)
            .select_related("answer")
            .order_by("pk")
        )
        for other in others:
            if score > other.answer.score:
                _case_close(
                    other,
                    DetractorCase.State.RECOVERED,
                    DetractorCase.Reason.RESCORED,
                    at,
                    detail=f"later {answer.survey_type.upper()} answer scored {score}",
                )


# -- cases -----------------------------------------------------------------------------------


def default_owner(store: Store, survey: Survey):
    members = StoreMember.objects.filter(store=store, user__is_active=True, user__is_staff=True)
    if survey.case_owner_id and members.filter(user_id=survey.case_owner_id).exists():
        return survey.case_owner
    members = members.select_related("user").order_by("created_at", "id")
    member = members.filter(role=StoreMember.Role.OWNER).first() or members.first()
    return member.user if member else None


def _entry(case: DetractorCase, now, action: str, detail: str = "", actor=None) -> None:
    CaseEntry.objects.create(case=case, at=now, actor=actor, action=action, detail=detail)


def _case_event(case: DetractorCase, name: str) -> None:
    emit(
        store=case.store,
        name=name,
        aggregate=f"case:{case.public_id}",
        payload={
            "case_id": case.public_id,
            "state": case.state,
            "reason": case.closed_reason,
            "answer_id": case.answer.public_id,
            "survey": case.answer.survey_type,
            "score": case.answer.score,
            "order_id": case.order.public_id if case.order_id else None,
            "customer_id": case.customer.public_id if case.customer_id else None,
            "shipment_id": case.answer.shipment.public_id if case.answer.shipment_id else None,
        },
    )


def _case_open(store, survey, answer: SurveyAnswer, score: int, now) -> DetractorCase:
    owner = default_owner(store, survey)
    case = DetractorCase.objects.create(
        store=store,
        answer=answer,
        customer_id=answer.customer_id,
        order_id=answer.order_id,
        owner=owner,
        opened_at=now,
        updated_at=now,
    )
    _entry(case, now, "opened", f"{answer.survey_type.upper()} score {score}")
    if owner is not None:
        _entry(case, now, "assigned", f"to {owner.get_username()}")
    _case_event(case, "survey.detractor")
    if survey.alert_email and store.support_email:
        message_enqueue(
            store=store,
            kind="detractor_alert",
            email=store.support_email,
            context={"case_id": case.public_id},
            idempotency_key=f"detractor_alert:{case.public_id}",
        )
    return case


def _case_move(case: DetractorCase, state: str, now, *, action: str, detail: str = "", actor=None):
    case.state = state
    case.updated_at = now
    fields = ["state", "updated_at"]
    if state == DetractorCase.State.CONTACTED and case.contacted_at is None:
        case.contacted_at = now
        fields.append("contacted_at")
    if state in DetractorCase.OPEN_STATES:
        case.closed_at = None
        case.closed_reason = ""
        case.recovery_order = None
        fields += ["closed_at", "closed_reason", "recovery_order"]
    case.save(update_fields=fields)
    _entry(case, now, action, detail, actor)
    _case_event(case, "survey.case_updated")


def _case_close(case, state, reason, now, *, detail="", actor=None, order=None) -> None:
    case.state = state
    case.closed_reason = reason
    case.closed_at = now
    case.updated_at = now
    case.recovery_order = order
    case.save(update_fields=["state", "closed_reason", "closed_at", "updated_at", "recovery_order"])
    _entry(case, now, state, detail, actor)
    _case_event(case, "survey.case_updated")


def _locked_case(store: Store, public_id: str) -> DetractorCase:
    case = (
        DetractorCase.objects.select_for_update()
        .select_related("answer", "store")
        .filter(store=store, public_id=public_id)
        .first()
    )
    if case is None:
        raise NotFound(f"no case {public_id}")
    return case


CASE_MOVES = {
    # action: (allowed from, to)
    "contacted": ((DetractorCase.State.OPEN,), DetractorCase.State.CONTACTED),
    "recovered": (DetractorCase.OPEN_STATES, DetractorCase.State.RECOVERED),
    "lost": (DetractorCase.OPEN_STATES, DetractorCase.State.LOST),
    "reopen": ((DetractorCase.State.RECOVERED, DetractorCase.State.LOST), DetractorCase.State.OPEN),
}


def case_update_check(*, store: Store, case: DetractorCase, action: str, owner_id=None) -> None:
    if action == "assign":
        if owner_id is None:
            return
        if (
            not StoreMember.objects.filter(
                store=store, user_id=owner_id, user__is_active=True, user__is_staff=True
            ).exists()
            and not get_user_model().objects.filter(pk=owner_id, is_superuser=True).exists()
        ):
            raise DomainError("the owner must be a staff member of this store", field="owner")
        return
    if action == "note":
        return
    if action not in CASE_MOVES:
        raise DomainError(f"unknown action {action!r}", field="action")
    allowed, _ = CASE_MOVES[action]
    if case.state not in allowed:
        raise Conflict(f"a {case.state} case cannot be marked {action}", field="action")


def case_update(
    *,
    store: Store,
    case_id: str,
    action: str,
    actor=None,
    owner_id: int | None = None,
    note: str = "",
) -> DetractorCase:
    """A staff change to a case: assign, contacted, recovered, lost, reopen, or a note."""
    note = note.strip()[:COMMENT_MAX]
    now = clock.now()
    with transaction.atomic():
        case = _locked_case(store, case_id)
        case_update_check(store=store, case=case, action=action, owner_id=owner_id)
        if action == "note":
            if not note:
                raise DomainError("write a note", field="note")
            _entry(case, now, "note", note, actor)
            DetractorCase.objects.filter(pk=case.pk).update(updated_at=now)
            return case
        if action == "assign":
            if case.owner_id == owner_id:
                return case
            case.owner_id = owner_id
            case.updated_at = now
            case.save(update_fields=["owner", "updated_at"])
            owner = get_user_model().objects.filter(pk=owner_id).first() if owner_id else None
            _entry(
                case,
                now,
                "assigned",
                f"to {owner.get_username()}" if owner else "unassigned",
                actor,
            )
            return case
        _, state = CASE_MOVES[action]
        if state in (DetractorCase.State.RECOVERED, DetractorCase.State.LOST):
            _case_close(case, state, DetractorCase.Reason.STAFF, now, detail=note, actor=actor)
        else:
            _case_move(case, state, now, action=action, detail=note, actor=actor)
    return case


def recover_on_order(*, store: Store, order_public_id: str) -> int:
    """A detractor who orders again is recovered: close their open cases opened before the order."""
    order = (
        Order.objects.filter(store=store, public_id=order_public_id)
        .exclude(status=Order.Status.CANCELLED)
        .first()
    )
    if order is None or order.customer_id is None:
        return 0
    now = clock.now()
    cases = (
        DetractorCase.objects.select_for_update(of=("self",))
        .select_related("answer", "store", "order", "customer")
        .filter(
            store=store,
            customer_id=order.customer_id,
            state__in=DetractorCase.OPEN_STATES,
            opened_at__lt=order.placed_at,
        )
        .filter(~Q(order=order))
        .order_by("pk")
    )
    done = 0
    for case in cases:
        _case_close(
            case,
            DetractorCase.State.RECOVERED,
            DetractorCase.Reason.ORDERED_AGAIN,
            now,
            detail=f"ordered again: {order.number}",
            order=order,
        )
        done += 1
    return done


def survey_settings_check(*, survey: Survey, detractor_max: int | None, promoter_min: int | None):
    low, high = SCALES[survey.type][:2]
    dmax = SCALES[survey.type][2] if detractor_max is None else detractor_max
    pmin = SCALES[survey.type][3] if promoter_min is None else promoter_min
    if not low <= dmax < high:
        raise DomainError(
            f"detractors must end between {low} and {high - 1}", field="detractor_max"
        )
    if not dmax < pmin <= high:
        raise DomainError("promoters must start above the detractors", field="promoter_min")
