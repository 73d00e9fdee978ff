"""Writes to messaging: queue a message (once), record what providers say, honour opt-outs."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.messaging.kinds import get_kind
from aftersale.messaging.locales import normalize_locale
from aftersale.messaging.models import (
    Category,
    Channel,
    ContactPreference,
    Message,
    MessageLog,
    Suppression,
)
from aftersale.messaging.policy import kind_policy, quiet_hours_for, refusal, settings_for
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment

logger = logging.getLogger(__name__)


def log_status(message: Message, status: str, detail: str = "", at: dt.datetime | None = None):
    MessageLog.objects.create(message=message, status=status, detail=detail, at=at or clock.now())


def _subject_ref(order, shipment, customer, email) -> str:
    if shipment is not None:
        return shipment.public_id
    if order is not None:
        return order.public_id
    if customer is not None:
        return customer.public_id
    return email


def message_enqueue(
    *,
    store: Store,
    kind: str,
    channel: str = Channel.EMAIL,
    customer: Customer | None = None,
    order: Order | None = None,
    shipment: Shipment | None = None,
    email: str = "",
    phone: str = "",
    context: dict | None = None,
    origin: str = "",
    not_before: dt.datetime | None = None,
    idempotency_key: str | None = None,
) -> tuple[Message, bool]:
    """Queue one message; returns (message, created). The same key never makes a second message.

    A message that must not go out (no address, suppressed, no consent, opted out) is recorded as
    suppressed with the reason, so the log shows every decision.
    """
    spec = get_kind(kind)
    if channel not in spec.channels:
        raise ValueError(f"{kind} has no {channel} version")
    if order is None and shipment is not None:
        order = shipment.order
    if customer is None and order is not None and order.customer_id:
        customer = order.customer
    if channel == Channel.EMAIL:
        recipient = email or (customer.email if customer else "") or (order.email if order else "")
        recipient = recipient.strip().lower()
    else:
        recipient = phone or (customer.phone if customer else "")
    subject_ref = _subject_ref(order, shipment, customer, recipient)
    key = idempotency_key or f"{kind}:{subject_ref}:{channel}:{recipient}"

    existing = Message.objects.filter(store=store, idempotency_key=key).first()
    if existing is not None:
        return existing, False

    now = clock.now()
    settings = settings_for(store)
    policy = kind_policy(store, kind)
    locale = normalize_locale(
        (customer.locale if customer else "") or store.default_locale, store.default_locale
    )
    time_zone = (customer.time_zone if customer else "") or store.time_zone
    due = max(not_before or now, now)
    reason = refusal(
        store=store,
        category=spec.category,
        channel=channel,
        recipient=recipient,
        customer=customer,
    )
    quiet = quiet_hours_for(settings, spec, policy)
    shifted = quiet.next_allowed(due, time_zone) if quiet and reason is None else due
    expires_after = (
        dt.timedelta(hours=policy.expires_after_hours)
        if policy and policy.expires_after_hours
        else spec.expires_after
    )
    message = Message(
        store=store,
        customer=customer,
        order=order,
        shipment=shipment,
        kind=kind,
        category=spec.category,
        channel=channel,
        recipient=recipient,
        locale=locale,
        time_zone=time_zone,
        idempotency_key=key,
        origin=origin,
        context=context or {},
        priority=policy.priority if policy and policy.priority is not None else spec.priority,
        status=Message.Status.SUPPRESSED if reason else Message.Status.QUEUED,
        status_reason=reason or "",
        due_at=shifted,
        expires_at=(due + expires_after) if expires_after else None,
    )
    try:
        with transaction.atomic():
            message.save()
            if reason:
                log_status(message, "suppressed", reason, now)
            elif shifted != due:
                log_status(
                    message,
                    "queued",
                    f"due {due:%Y-%m-%d %H:%M} UTC falls in quiet hours; waits until "
                    f"{shifted:%Y-%m-%d %H:%M} UTC",
                    now,
                )
            else:
                log_status(message, "queued", "", now)
    except IntegrityError:
        return Message.objects.get(store=store, idempotency_key=key), False
    return message, True


def suppress_address(
    *, store: Store, channel: str, address: str, reason: str, detail: str = ""
) -> Suppression:
    address = address.strip().lower() if channel == Channel.EMAIL else address.strip()
    suppression, _ = Suppression.objects.get_or_create(
        store=store,
        channel=channel,
        address=address,
        defaults={"reason": reason, "detail": detail[:500]},
    )
    return suppression


def record_bounce(*, message: Message, hard: bool, detail: str) -> None:
    """The provider says the message did not arrive; a hard bounce stops all mail to the address."""
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.BOUNCED, status_reason=detail[:300], lease_until=None
        )
        log_status(message, "bounced", detail)
        if hard:
            suppress_address(
                store=message.store,
                channel=message.channel,
                address=message.recipient,
                reason=Suppression.Reason.HARD_BOUNCE,
                detail=detail,
            )


def preferences_for(customer: Customer) -> ContactPreference:
    pref = ContactPreference.objects.filter(customer=customer).first()
    return pref or ContactPreference(store_id=customer.store_id, customer=customer)


def preferences_update(
    *, customer: Customer, choices: dict[str, bool], via: str
) -> ContactPreference:
    pref = preferences_for(customer)
    for field in ("feedback", "reminders", "offers", "email", "sms"):
        if field in choices:
            setattr(pref, field, bool(choices[field]))
    pref.updated_via = via
    pref.save()
    return pref


def unsubscribe(*, message: Message, via: str) -> ContactPreference | None:
    """One-click unsubscribe from a message: from its category, or from all marketing when the
    message itself was transactional."""
    if message.customer is None:
        suppress_address(
            store=message.store,
            channel=message.channel,
            address=message.recipient,
            reason=Suppression.Reason.UNSUBSCRIBED,
            detail=f"one-click unsubscribe from {message.public_id}",
        )
        return None
    if message.category == Category.TRANSACTIONAL:
        choices = {"feedback": False, "reminders": False, "offers": False}
    else:
        choices = {message.category: False}
    return preferences_update(customer=message.customer, choices=choices, via=via)
