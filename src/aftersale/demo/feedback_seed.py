"""Demo feedback: NPS, CSAT and CES surveys sent over the demo store's delivered orders and the
answers shoppers gave (with comments in their language, unhappier after late parcels), the
detractor cases they opened in every state, and one fresh survey a visitor can answer.

It goes through the real services (answer_submit, then the survey.answered follow-up that takes
the snapshot and opens the case), with historical times. Like the rest of the demo history it
fires nothing: the survey events it leaves are marked handled, and the merchant alerts as sent.
Deterministic from the rng.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q

from aftersale.core.models import OutboxEvent, Store, StoreMember
from aftersale.feedback import tokens
from aftersale.feedback.models import DetractorCase, SurveyQuestion
from aftersale.feedback.services import (
    Submission,
    answer_follow_up,
    answer_submit,
    case_update,
    survey_for,
)
from aftersale.messaging.message_templates import resolve_template
from aftersale.messaging.models import Message
from aftersale.messaging.rendering import render_part
from aftersale.messaging.sending import message_context
from aftersale.messaging.services import message_enqueue
from aftersale.tracking.models import Shipment

SURVEYS = 400  # delivered orders asked (some twice: NPS and CSAT)
KIND_OF = {"nps": "survey_nps", "csat": "survey_csat", "ces": "survey_ces"}

COMMENTS = {
    "en": {
        "detractor": [
            "The parcel arrived a week late and nobody answered my emails.",
            "Box was damaged and the mug inside was chipped.",
            "Delivery took far too long, the tracking never updated.",
            "Wrong size sent and the return was a hassle.",
            "",
        ],
        "passive": [
            "Fine overall, but delivery was slower than promised.",
            "Good product, packaging could be less wasteful.",
            "Okay. The colour looks different from the photos.",
            "",
        ],
        "promoter": [
            "Fast delivery and great quality, thank you!",
            "Friendly service and the jacket fits perfectly.",
            "Arrived earlier than expected, very well packed.",
            "Great shop, I already recommended you to a friend.",
            "",
        ],
    },
    "de": {
        "detractor": [
            "Das Paket kam eine Woche zu spät und niemand hat auf meine Mails geantwortet.",
            "Karton beschädigt, die Tasse hatte einen Sprung.",
            "Die Lieferung hat viel zu lange gedauert, die Sendungsverfolgung stand still.",
            "Falsche Größe geliefert, die Rücksendung war mühsam.",
            "",
        ],
        "passive": [
            "Insgesamt gut, aber die Lieferung war langsamer als versprochen.",
            "Gutes Produkt, die Verpackung könnte sparsamer sein.",
            "In Ordnung. Die Farbe weicht etwas von den Fotos ab.",
            "",
        ],
        "promoter": [
            "Schnelle Lieferung und tolle Qualität, danke!",
            "Freundlicher Service und die Jacke passt perfekt.",
            "Früher als erwartet da und sehr gut verpackt.",
            "Toller Shop, habe euch schon weiterempfohlen.",
            "",
        ],
    },
    "pt-br": {
        "detractor": [
            "O pacote chegou uma semana atrasado e ninguém respondeu meus e-mails.",
            "A caixa chegou amassada e a caneca estava lascada.",
            "A entrega demorou demais e o rastreio não atualizava.",
            "",
        ],
        "passive": [
            "Tudo certo, mas a entrega foi mais lenta que o prometido.",
            "Produto bom, a embalagem poderia ser menor.",
            "",
        ],
        "promoter": [
            "Entrega rápida e ótima qualidade, obrigado!",
            "Atendimento simpático e a jaqueta serviu perfeitamente.",
            "Chegou antes do prazo e muito bem embalado.",
            "",
        ],
    },
}


def _score(rng: random.Random, survey_type: str, late: bool) -> int:
    """Realistic distributions: most shoppers are happy, fewer after a late parcel."""
    if survey_type == "nps":
        weights = (
            [2, 1, 1, 2, 2, 3, 4, 8, 14, 22, 30]
            if not late
            else [
                6,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                10,
                9,
                8,
            ]
        )
        return rng.choices(range(11), weights)[0]
    if survey_type == "csat":
        weights = [3, 4, 10, 35, 48] if not late else [14, 16, 22, 28, 20]
        return rng.choices(range(1, 6), weights)[0]
    weights = [3, 4, 6, 10, 20, 30, 27]
    return rng.choices(range(1, 8), weights)[0]


def seed(store: Store, rng: random.Random, now: datetime) -> dict[str, int]:
    surveys = {t: survey_for(store, t) for t in ("nps", "csat", "ces")}
    if not surveys["nps"].questions.exists():
        SurveyQuestion.objects.create(
            store=store,
            survey=surveys["nps"],
            kind=SurveyQuestion.Kind.CHOICE,
            label={
                "en": "What mattered most to you?",
                "de": "Was war Ihnen am wichtigsten?",
                "pt-br": "O que foi mais importante para você?",
            },
            choices=[
                {
                    "value": "speed",
                    "label": {
                        "en": "Delivery time",
                        "de": "Lieferzeit",
                        "pt-br": "Prazo de entrega",
                    },
                },
                {
                    "value": "quality",
                    "label": {"en": "Product quality", "de": "Qualität", "pt-br": "Qualidade"},
                },
                {
                    "value": "service",
                    "label": {"en": "Service", "de": "Service", "pt-br": "Atendimento"},
                },
            ],
        )
    first_event = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    delivered = list(
        Shipment.objects.filter(
            store=store,
            delivered_at__isnull=False,
            delivered_at__gte=now - timedelta(days=85),
            delivered_at__lte=now - timedelta(days=4),
        )
        .filter(Q(order__customer__isnull=False))
        .select_related("order", "order__customer")
        .order_by("delivered_at", "id")
    )
    rng.shuffle(delivered)
    counts = {"survey messages": 0, "answers": 0}
    for shipment in delivered[:SURVEYS]:
        order = shipment.order
        promise = shipment.promised_delivery_date
        late = bool(promise and shipment.delivered_at.date() > promise)
        plan = [("nps", 3)] if rng.random() < 0.7 else [("csat", 1)]
        if rng.random() < 0.15:
            plan.append(("ces", 9))  # after a return or exchange closed
        for survey_type, after_days in plan:
            # Every draw is made up front, so a second run takes the same path through the rng.
            survey = surveys[survey_type]
            sent_at = shipment.delivered_at + timedelta(days=after_days, hours=rng.randint(0, 6))
            answers = rng.random() < 0.45  # about 45% answer
            score = _score(rng, survey_type, late)
            answered_at = sent_at + timedelta(hours=rng.randint(1, 40))
            comment_pick = rng.random()
            extra_pick = rng.choice(["speed", "quality", "service", "", ""])
            if sent_at >= now:
                continue
            message, created = message_enqueue(
                store=store,
                kind=KIND_OF[survey_type],
                order=order,
                shipment=shipment if survey_type == "csat" else None,
                idempotency_key=f"demo:{KIND_OF[survey_type]}:{order.public_id}",
            )
            if not created or message.status == Message.Status.SUPPRESSED:
                continue
            _mark_sent(message, sent_at)
            message.refresh_from_db()
            counts["survey messages"] += 1
            if not answers:
                continue
            locale = message.locale if message.locale in COMMENTS else "en"
            options = COMMENTS[locale][survey.band(score)]
            comment = options[int(comment_pick * len(options))]
            extras = {}
            if survey_type == "nps" and extra_pick:
                extras = {survey.questions.first().public_id: extra_pick}
            answer_submit(
                store=store,
                message=message,
                submission=Submission(score=score, comment=comment, extras=extras),
                now=min(answered_at, now),
                survey=survey,
            )
            counts["answers"] += 1
    _follow_up(store, first_event)
    if counts["answers"]:  # a second run adds nothing and leaves the cases as they are
        _work_cases(store, rng, now)
    counts["detractor cases"] = DetractorCase.objects.filter(store=store).count()
    counts["open survey"] = _fresh_survey(store, now)
    # History fires nothing: the survey events were handled above (the snapshot, the cases), so
    # they go like the rest of the history's events never came; the alerts count as sent.
    OutboxEvent.objects.filter(store=store, id__gt=first_event, name__startswith="survey.").delete()
    for alert in Message.objects.filter(store=store, kind="detractor_alert", status="queued"):
        _mark_sent(alert, now)
    return counts


def _mark_sent(message: Message, sent_at: datetime) -> None:
    """Record a history message as sent, with the subject its template gives it."""
    resolved = resolve_template(
        store=message.store, kind=message.kind, channel=message.channel, locale=message.locale
    )
    context = message_context(message, marketing=message.category != "transactional")
    subject = render_part(resolved.parts.subject, context, part="subject", autoescape=False)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT,
        sent_at=sent_at,
        due_at=sent_at,
        created_at=sent_at,
        subject=subject,
    )


def _follow_up(store: Store, first_event: int) -> None:
    """What the worker does for each survey.answered event: the snapshot and the case."""
    events = OutboxEvent.objects.filter(
        store=store, id__gt=first_event, name="survey.answered"
    ).order_by("id")
    for event in events:
        answer_follow_up(store=store, payload=event.payload, at=event.created_at)


def _staff(store: Store):
    user = (
        get_user_model()
        .objects.filter(store_memberships__store=store, is_staff=True)
        .order_by("id")
        .first()
    )
    if user is None:
        user = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
    if user is not None and not StoreMember.objects.filter(store=store, user=user).exists():
        return None
    return user


def _work_cases(store: Store, rng: random.Random, now: datetime) -> None:
    """The merchant has worked on the older cases — contacted, then recovered or lost, or still
    waiting — in turn; the two newest stay open. (Some were recovered already by a re-score.)"""
    cases = list(DetractorCase.objects.filter(store=store).order_by("opened_at", "id"))
    actor = _staff(store)
    older = [c for c in cases[:-2] if c.state == DetractorCase.State.OPEN]
    for n, case in enumerate(older):
        step = n % 4
        if step == 0:
            continue  # still open: nobody got to it yet
        case_update(
            store=store,
            case_id=case.public_id,
            action="contacted",
            actor=actor,
            note=rng.choice(
                [
                    "Called the customer, apologised and offered a replacement.",
                    "Emailed an apology and a prepaid return label.",
                    "Left a voicemail; refund of the shipping cost offered.",
                ]
            ),
        )
        if step == 2:
            case_update(
                store=store,
                case_id=case.public_id,
                action="recovered",
                actor=actor,
                note="Replacement arrived; the customer is happy again.",
            )
        elif step == 3:
            case_update(
                store=store,
                case_id=case.public_id,
                action="lost",
                actor=actor,
                note="No answer after two attempts.",
            )


def _fresh_survey(store: Store, now: datetime) -> int:
    """An NPS survey sent yesterday and not answered yet: the link a visitor can click."""
    shipment = (
        Shipment.objects.filter(
            store=store, delivered_at__isnull=False, order__customer__isnull=False
        )
        .select_related("order")
        .order_by("-delivered_at", "-id")
        .first()
    )
    if shipment is None:
        return 0
    message, _ = message_enqueue(
        store=store,
        kind="survey_nps",
        order=shipment.order,
        idempotency_key=f"demo:open-survey:{shipment.order.public_id}",
    )
    _mark_sent(message, now - timedelta(days=1))
    return 1


def highlights(store: Store, base_url: str) -> list[str]:
    lines = [
        f"feedback report {base_url}/admin/feedback/desk/?store={store.slug}",
        f"detractor cases {base_url}/admin/feedback/desk/cases/?store={store.slug}",
    ]
    survey = (
        Message.objects.filter(store=store, idempotency_key__startswith="demo:open-survey:")
        .order_by("-id")
        .first()
    )
    if survey is not None:
        lines.append(
            f"survey (shopper) {base_url}{tokens.page_path(survey.public_id)} "
            "(the page behind the score links of an NPS email)"
        )
    return lines
