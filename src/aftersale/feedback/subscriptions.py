"""What the feedback app does when other apps' events arrive."""

from __future__ import annotations

from aftersale.core.events import subscribe
from aftersale.core.models import OutboxEvent
from aftersale.feedback.services import answer_follow_up, recover_on_order


@subscribe("survey.answered", name="feedback.answer_follow_up")
def on_answered(event: OutboxEvent) -> None:
    """The answer's snapshot and its detractor case, after the shopper's click."""
    answer_follow_up(store=event.store, payload=event.payload or {}, at=event.created_at)


@subscribe("order.created", name="feedback.recover_on_order")
def on_order_created(event: OutboxEvent) -> None:
    """A detractor who orders again is recovered (idempotent: only open cases change)."""
    order_id = (event.payload or {}).get("id")
    if order_id and (event.payload or {}).get("customer_id"):
        recover_on_order(store=event.store, order_public_id=order_id)
