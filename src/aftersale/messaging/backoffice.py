"""What staff do to messages and templates in the back office; every change leaves a log row."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.messaging.message_templates import default_template
from aftersale.messaging.models import Message, MessageLog, MessageTemplate
from aftersale.messaging.rendering import TemplateParts

REQUEUEABLE = (Message.Status.FAILED, Message.Status.EXPIRED)


def _actor_name(actor) -> str:
    return getattr(actor, "get_username", lambda: str(actor))() or "staff"


def message_requeue(*, store: Store, message: Message, actor) -> bool:
    """Send a failed or expired message again now. Returns False (and writes nothing) when the
    message is in another state by the time we get to it.

    The retry count starts over and the expiry is lifted (staff asked for it now); suppression,
    consent and quiet hours are still checked by the sender.
    """
    now = clock.now()
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, store=store, status__in=REQUEUEABLE).update(
            status=Message.Status.QUEUED,
            status_reason="",
            due_at=now,
            expires_at=None,
            attempts=0,
            claimed_by="",
            lease_until=None,
            handed_off_at=None,
            budgeted_at=None,
            updated_at=now,
        )
        if changed:
            MessageLog.objects.create(
                message=message,
                status="queued",
                detail=f"sent again by {_actor_name(actor)} (was {message.status})",
                at=now,
            )
    return bool(changed)


def message_cancel(*, store: Store, message: Message, actor) -> bool:
    """Stop a queued message. Returns False when a sender already took it (or it is done)."""
    now = clock.now()
    reason = f"cancelled by {_actor_name(actor)}"
    with transaction.atomic():
        changed = Message.objects.filter(
            pk=message.pk, store=store, status=Message.Status.QUEUED
        ).update(
            status=Message.Status.SUPPRESSED,
            status_reason=reason[:300],
            lease_until=None,
            updated_at=now,
        )
        if changed:
            MessageLog.objects.create(message=message, status="suppressed", detail=reason, at=now)
    return bool(changed)


def template_save(*, store: Store, template: MessageTemplate) -> MessageTemplate:
    """Save edited wording as a new version (the caller has checked that it renders)."""
    if template.store_id != store.pk:
        raise ValueError("the template belongs to another store")
    if template.pk is not None:
        template.version = F("version") + 1
    template.save()
    template.refresh_from_db(fields=["version", "updated_at"])
    return template


def template_reset(*, store: Store, template: MessageTemplate) -> bool:
    """Put the shipped default wording back; False when there is no default to go back to."""
    parts: TemplateParts | None = default_template(template.kind, template.channel, template.locale)
    if parts is None:
        return False
    template.subject = parts.subject
    template.preheader = parts.preheader
    template.html_body = parts.html_body
    template.text_body = parts.text_body
    template_save(store=store, template=template)
    return True
