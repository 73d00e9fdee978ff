"""The shopper hears about each step of a return: a message per return.* event, queued once.

`on_return_event` is subscribed to "return.*" (from kinds.py, at start). It queues the kind that
belongs to the event (kinds.KIND_FOR_EVENT) with `{"return_id": "ret_…"}` in the message context
and the idempotency key `return:<ret_…>:<kind>`, so a redelivered event never sends twice. Gift
returns are told to the gift recipient, everything else to the order's customer. On
`return.approved` it also issues the return's label or drop-off code when the return needs one
(portal.label_issue; a retryable provider failure raises, and the outbox retries later).

One message per moment, not three at once: a return the rules approve on the spot gets no
"requested" message, and an approval that comes with a label or QR code is told by the label
message ("ready to send it back"); without a label (keep the item, a refused label) the approval
is its own message.

`message_return_context` is what the templates see about the return (kinds.return_context).
"""

from __future__ import annotations

import logging

from django.utils import translation

from aftersale.core.events import subscribe
from aftersale.core.models import OutboxEvent
from aftersale.core.money import format_money
from aftersale.messaging.locales import babel_locale, normalize_locale
from aftersale.messaging.services import message_enqueue
from aftersale.returns.models import ReturnRequest

logger = logging.getLogger(__name__)


def _return_of(event: OutboxEvent) -> ReturnRequest | None:
    ref = (event.payload or {}).get("id") or ""
    if not ref.startswith("ret_"):
        return None
    return (
        ReturnRequest.objects.select_related("order__customer", "customer", "store")
        .filter(store_id=event.store_id, public_id=ref)
        .first()
    )


@subscribe("return.*", name="returns.notify")
def on_return_event(event: OutboxEvent) -> None:
    from aftersale.returns.kinds import KIND_FOR_EVENT
    from aftersale.returns.portal import LABELLED_METHODS, label_issue, label_needed

    kind = KIND_FOR_EVENT.get(event.name)
    if kind is None:
        return
    ret = _return_of(event)
    if ret is None:
        logger.warning("%s for an unknown return %s", event.name, (event.payload or {}).get("id"))
        return
    if event.name == "return.requested" and ret.status != ReturnRequest.Status.REQUESTED:
        return  # approved at once: the approval (or the label) is the message
    if event.name == "return.approved" and ret.shipping_method in LABELLED_METHODS:
        if label_needed(ret):
            label_issue(store=ret.store, ret=ret)
        if ret.labels.filter(voided_at__isnull=True).exists():
            return  # the label message says it is approved and how to send it
    customer = ret.customer if ret.customer_id else ret.order.customer
    email = ret.gift_recipient_email if ret.is_gift and ret.gift_recipient_email else ""
    message_enqueue(
        store=ret.store,
        kind=kind,
        order=ret.order,
        customer=customer,
        email=email,
        context={"return_id": ret.public_id},
        origin=f"returns:{event.name}",
        idempotency_key=f"return:{ret.public_id}:{kind}",
    )


# -- what the templates see -----------------------------------------------------------------------


def _message_return(message) -> ReturnRequest | None:
    ref = (message.context or {}).get("return_id") or ""
    found = ReturnRequest.objects.filter(store_id=message.store_id)
    if ref:
        return found.filter(public_id=ref).first()
    if message.order_id:  # a preview, or a flow that sends a return kind: the order's newest
        return found.filter(order_id=message.order_id).order_by("-requested_at", "-id").first()
    return None


def message_return_context(message) -> dict:
    from aftersale.returns import portal

    locale = normalize_locale(message.locale or "en")
    ret = _message_return(message)
    with translation.override(locale):
        if ret is None:
            return portal.sample_return_context(message, locale)
        money = babel_locale(locale)

        def fmt(amount) -> str:
            return format_money(amount, ret.currency, money)

        lines = list(ret.lines.select_related("order_line", "exchange_variant__product"))
        label = ret.labels.filter(voided_at__isnull=True).order_by("-created_at", "-id").first()
        credit = ret.credits.select_related("account").filter(kind="issue").first()
        block = {
            "id": ret.public_id,
            "reference": ret.reference,
            "status": portal.status_label(ret.status),
            "outcome": portal.outcome_label(ret.outcome),
            "outcome_code": ret.outcome,
            "method": portal.method_label(ret.shipping_method),
            "method_code": ret.shipping_method,
            "is_gift": ret.is_gift,
            "items": [
                {
                    "title": line.order_line.title,
                    "variant": line.order_line.variant_title,
                    "quantity": line.quantity,
                    "amount": fmt(line.amount),
                }
                for line in lines
            ],
            "items_text": ", ".join(f"{line.quantity} × {line.order_line.title}" for line in lines),
            "items_amount": fmt(ret.items_amount),
            "fee": fmt(ret.fee_amount) if ret.fee_amount else "",
            "bonus": fmt(ret.bonus_amount) if ret.bonus_amount else "",
            "total": fmt(ret.total_amount),
            "upcharge": fmt(ret.upcharge_amount) if ret.upcharge_amount else "",
            "exchange_items": ", ".join(
                f"{line.quantity} × {line.exchange_variant.product.title}"
                + (f" ({line.exchange_variant.title})" if line.exchange_variant.title else "")
                for line in lines
                if line.exchange_variant_id
            ),
            "exchange_order": ret.exchange_order_external_id,
            "rejection_reason": ret.rejection_reason,
            "carrier": label.carrier if label else "",
            "tracking_number": label.tracking_number if label else "",
            "credit_code": credit.account.code if credit else "",
        }
        links = {"return_url": portal.status_url(ret)}
        if label is not None:
            links["return_label_url"] = portal.absolute(portal.document_path(ret, "label"))
        return {"return": block, "links": links}
