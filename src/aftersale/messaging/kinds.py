"""The kinds of message aftersale sends. Later features add kinds with register_kind()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aftersale.messaging.models import Category, Channel


@dataclass(frozen=True)
class MessageKind:
    code: str
    title: str
    category: str
    # Higher goes first when the fatigue budget has room for only some messages.
    priority: int = 0
    # A message not sent by then is dropped (marketing) — transactional ones never expire.
    expires_after: timedelta | None = None
    # What the message is about: "order", "shipment" or "customer"; the preview picks a sample.
    about: str = "order"
    channels: tuple[str, ...] = (Channel.EMAIL,)
    # Transactional messages about an order in progress may go out during quiet hours.
    ignores_quiet_hours: bool = False
    # What this kind adds to the template context, from the app that owns the kind:
    # fn(message) -> {"links": {...}, "survey": {...}}; message.pk is None in a preview.
    context: Callable[[Any], dict] | None = None

    @property
    def is_marketing(self) -> bool:
        return self.category != Category.TRANSACTIONAL


_kinds: dict[str, MessageKind] = {}


def register_kind(kind: MessageKind) -> MessageKind:
    """Add a kind, or replace one (an app that owns a kind's subject may give it its context)."""
    _kinds[kind.code] = kind
    return kind


def get_kind(code: str) -> MessageKind:
    try:
        return _kinds[code]
    except KeyError:
        raise KeyError(f"unknown message kind {code!r}") from None


def all_kinds() -> list[MessageKind]:
    return list(_kinds.values())


T = Category.TRANSACTIONAL
BOTH = (Channel.EMAIL, Channel.SMS)

ORDER_CONFIRMATION = register_kind(
    MessageKind(
        "order_confirmation", "Order confirmation", T, priority=100, ignores_quiet_hours=True
    )
)
SHIPPING_CONFIRMATION = register_kind(
    MessageKind(
        "shipping_confirmation",
        "Shipping confirmation",
        T,
        priority=90,
        about="shipment",
        channels=BOTH,
    )
)
DELIVERED = register_kind(
    MessageKind("delivered", "Delivered", T, priority=80, about="shipment", channels=BOTH)
)
THANK_YOU = register_kind(
    MessageKind(
        "thank_you", "Thank you", Category.FEEDBACK, priority=30, expires_after=timedelta(days=5)
    )
)
FEEDBACK_REQUEST = register_kind(
    MessageKind(
        "feedback_request",
        "Feedback request",
        Category.FEEDBACK,
        priority=50,
        expires_after=timedelta(days=7),
    )
)
REVIEW_REQUEST = register_kind(
    MessageKind(
        "review_request",
        "Review request",
        Category.FEEDBACK,
        priority=40,
        expires_after=timedelta(days=14),
    )
)
REORDER_REMINDER = register_kind(
    MessageKind(
        "reorder_reminder",
        "Reorder reminder",
        Category.REMINDERS,
        priority=35,
        expires_after=timedelta(days=7),
    )
)
WIN_BACK = register_kind(
    MessageKind(
        "win_back",
        "Win-back",
        Category.OFFERS,
        priority=10,
        about="customer",
        expires_after=timedelta(days=14),
    )
)
BIRTHDAY = register_kind(
    MessageKind(
        "birthday",
        "Birthday",
        Category.OFFERS,
        priority=60,
        about="customer",
        expires_after=timedelta(days=2),
    )
)
ANNIVERSARY = register_kind(
    MessageKind(
        "anniversary",
        "First-purchase anniversary",
        Category.OFFERS,
        priority=20,
        about="customer",
        expires_after=timedelta(days=3),
    )
)
EXCLUSIVE_OFFER = register_kind(
    MessageKind(
        "exclusive_offer",
        "Exclusive offer",
        Category.OFFERS,
        priority=25,
        expires_after=timedelta(days=7),
    )
)
# Said before the shopper asks: the parcel's day, and what went wrong on the way (tracking issues).
OUT_FOR_DELIVERY = register_kind(
    MessageKind(
        "out_for_delivery", "Out for delivery", T, priority=85, about="shipment", channels=BOTH
    )
)
DELIVERY_DELAYED = register_kind(
    MessageKind(
        "delivery_delayed", "Delivery delayed", T, priority=88, about="shipment", channels=BOTH
    )
)
DELIVERY_EXCEPTION = register_kind(
    MessageKind(
        "delivery_exception",
        "Delivery problem",
        T,
        priority=89,
        about="shipment",
        channels=BOTH,
    )
)
DELIVERY_ATTEMPT_FAILED = register_kind(
    MessageKind(
        "delivery_attempt_failed",
        "Delivery attempt failed",
        T,
        priority=87,
        about="shipment",
        channels=BOTH,
    )
)
READY_FOR_PICKUP = register_kind(
    MessageKind(
        "ready_for_pickup", "Ready for pickup", T, priority=86, about="shipment", channels=BOTH
    )
)
RETURNING_TO_SENDER = register_kind(
    MessageKind(
        "returning_to_sender",
        "Returning to sender",
        T,
        priority=84,
        about="shipment",
        channels=BOTH,
    )
)
