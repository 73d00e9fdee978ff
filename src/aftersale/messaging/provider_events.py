"""What email providers tell us after they took a message: bounces, complaints, unsubscribes.

django-anymail receives each provider's tracking webhook at /anymail/<provider>/tracking/ (basic
auth with ANYMAIL_WEBHOOK_SECRET), normalises it and sends its `tracking` signal; this handler
finds our message — by the metadata we attach to every email, else by the provider's message id —
and records the outcome. A hard bounce or a complaint suppresses the address for the store.
"""

from __future__ import annotations

import logging

from anymail.signals import EventType

from aftersale.messaging.models import Message, Suppression
from aftersale.messaging.services import log_status, record_bounce, suppress_address

logger = logging.getLogger(__name__)

METADATA_KEY = "aftersale_message"


def _find_message(event) -> Message | None:
    public_id = (event.metadata or {}).get(METADATA_KEY)
    if public_id:
        found = Message.objects.select_related("store").filter(public_id=public_id).first()
        if found is not None:
            return found
    if event.message_id:
        return (
            Message.objects.select_related("store")
            .filter(provider_message_id=str(event.message_id))
            .first()
        )
    return None


def on_tracking_event(sender, event, esp_name, **kwargs) -> None:
    message = _find_message(event)
    if message is None:
        logger.info(
            "%s %s event for an unknown message %s", esp_name, event.event_type, event.message_id
        )
        return
    detail = " ".join(
        part for part in (esp_name, event.description or "", event.mta_response or "") if part
    )
    if event.event_type == EventType.BOUNCED:
        record_bounce(message=message, hard=True, detail=f"hard bounce: {detail}")
    elif event.event_type == EventType.COMPLAINED:
        suppress_address(
            store=message.store,
            channel=message.channel,
            address=message.recipient,
            reason=Suppression.Reason.COMPLAINT,
            detail=detail,
        )
        log_status(message, "complained", detail)
    elif event.event_type == EventType.UNSUBSCRIBED:
        suppress_address(
            store=message.store,
            channel=message.channel,
            address=message.recipient,
            reason=Suppression.Reason.UNSUBSCRIBED,
            detail=f"unsubscribed at the provider: {detail}",
        )
        log_status(message, "unsubscribed", detail)
    elif event.event_type in (EventType.DEFERRED, EventType.DELIVERED, EventType.REJECTED):
        log_status(message, str(event.event_type), detail)
