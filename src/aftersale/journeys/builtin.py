"""The flows every store starts with. They are ordinary flows (the merchant may edit or switch
them off); ensure_builtin_flows only adds the ones a store does not have yet."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from aftersale.core.models import Store
from aftersale.core.services import Conflict
from aftersale.feedback.flows import FLOWS as SURVEY_FLOWS
from aftersale.journeys.models import Flow
from aftersale.journeys.services import flow_create

MARKETING_EXITS = [
    {"event": "order.cancelled"},
    {"event": "refund.created"},
    {"unsubscribed": True},
]


TRACKING_EXITS = [{"event": "shipment.delivered"}, {"event": "order.cancelled"}]


def _issue_flow(event: str, kind: str) -> dict:
    """Send `kind` when tracking raises `event`, unless the parcel was delivered meanwhile."""
    return {
        "trigger": {"event": event},
        "steps": [
            {
                "id": "not-delivered",
                "type": "condition",
                "if": {"field": "shipment.delivered", "op": "is_false"},
                "then": "send",
                "else": "end",
            },
            {"id": "send", "type": "send", "kind": kind},
        ],
        "exit": TRACKING_EXITS,
    }


@dataclass(frozen=True)
class Builtin:
    key: str
    name: str
    description: str
    definition: dict


BUILTIN_FLOWS = [
    Builtin(
        "order-confirmation",
        "Order confirmation",
        "Confirms every new order by email.",
        {
            "trigger": {"event": "order.created"},
            "steps": [{"id": "confirm", "type": "send", "kind": "order_confirmation"}],
        },
    ),
    Builtin(
        "shipping-confirmation",
        "Shipping confirmation",
        "Tells the shopper when a parcel ships, with its tracking link.",
        {
            "trigger": {"event": "shipment.created"},
            "steps": [{"id": "shipped", "type": "send", "kind": "shipping_confirmation"}],
            "exit": [{"event": "order.cancelled"}],
        },
    ),
    Builtin(
        "delivered-thank-you",
        "Delivered, then thank you",
        "A delivery note when the parcel arrives and a thank-you a day later.",
        {
            "trigger": {"event": "shipment.delivered", "once_per": "order"},
            "steps": [
                {"id": "delivered", "type": "send", "kind": "delivered"},
                {"id": "wait-1d", "type": "wait", "duration": "1d"},
                {"id": "thank-you", "type": "send", "kind": "thank_you"},
            ],
            "exit": MARKETING_EXITS,
        },
    ),
    Builtin(
        "feedback-request",
        "NPS survey",
        "Asks how likely the shopper is to recommend the shop (one click in the email) three days "
        "after delivery.",
        {
            "trigger": {"event": "shipment.delivered", "once_per": "order"},
            "steps": [
                {"id": "wait-3d", "type": "wait", "duration": "3d"},
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "ask", "type": "send", "kind": "survey_nps"},
            ],
            "exit": MARKETING_EXITS,
        },
    ),
    Builtin(
        "review-request",
        "Review request",
        "Asks for a product review a week after delivery, unless a return is open.",
        {
            "trigger": {"event": "shipment.delivered", "once_per": "order"},
            "steps": [
                {"id": "wait-7d", "type": "wait", "duration": "7d"},
                {
                    "id": "open-return",
                    "type": "condition",
                    "if": {"field": "customer.has_open_return", "op": "is_true"},
                    "then": "end",
                    "else": "reviewed",
                },
                {
                    "id": "reviewed",
                    "type": "condition",
                    "if": {"field": "order.has_review", "op": "is_true"},
                    "then": "end",
                    "else": "morning",
                },
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "ask", "type": "send", "kind": "review_request"},
            ],
            "exit": MARKETING_EXITS,
        },
    ),
    Builtin(
        "win-back",
        "Win-back",
        "Reaches out 90 days after an order when the shopper has not ordered again.",
        {
            "trigger": {"event": "order.created", "once_per": "order"},
            "steps": [
                {"id": "wait-90d", "type": "wait", "duration": "90d"},
                {
                    "id": "ordered-again",
                    "type": "condition",
                    "if": {"field": "customer.ordered_again", "op": "is_true"},
                    "then": "end",
                    "else": "morning",
                },
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "win-back", "type": "send", "kind": "win_back"},
            ],
            "exit": [{"event": "order.created", "new_order": True}, {"unsubscribed": True}],
        },
    ),
    Builtin(
        "exclusive-offer",
        "Exclusive offer after a second order",
        "Thanks a returning shopper with a personal discount code.",
        {
            "trigger": {
                "event": "order.created",
                "filters": [{"field": "customer.order_count", "op": "eq", "value": 2}],
            },
            "steps": [
                {
                    "id": "code",
                    "type": "issue_discount",
                    "generate": {"prefix": "THANKS", "percent_off": 10, "expires_in": "30d"},
                },
                {"id": "offer", "type": "send", "kind": "exclusive_offer"},
            ],
            "exit": MARKETING_EXITS,
        },
    ),
    Builtin(
        "birthday",
        "Birthday",
        "A birthday note on the morning of the shopper's birthday.",
        {
            "trigger": {"event": "customer.birthday", "max_age": "2d"},
            "steps": [
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "greet", "type": "send", "kind": "birthday"},
            ],
            "exit": [{"unsubscribed": True}],
        },
    ),
    Builtin(
        "anniversary",
        "First-purchase anniversary",
        "Remembers the day a shopper first ordered, every year.",
        {
            "trigger": {"event": "customer.anniversary", "max_age": "2d"},
            "steps": [
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "greet", "type": "send", "kind": "anniversary"},
            ],
            "exit": [{"unsubscribed": True}],
        },
    ),
    Builtin(
        "reorder-reminder",
        "Reorder reminder",
        "Reminds a shopper to reorder a product about when they usually run out of it.",
        {
            "trigger": {"event": "product.reorder_due", "lead_days": 3, "fallback_days": 30},
            "steps": [
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "remind", "type": "send", "kind": "reorder_reminder"},
            ],
            "exit": [{"event": "order.created", "new_order": True}, {"unsubscribed": True}],
        },
    ),
    # Said before the shopper asks: tracking/issues.py raises each shipment.<issue> event once
    # per parcel, and every flow here enrols a parcel once (once_per: subject), so a burst of
    # scans sends one message. Each checks at send time that the parcel is not delivered, and
    # leaves on delivery.
    Builtin(
        "out-for-delivery",
        "Out for delivery",
        "Tells the shopper the parcel arrives today (once, after a short pause for more scans).",
        {
            "trigger": {
                "event": "shipment.updated",
                "filters": [{"field": "shipment.status", "op": "eq", "value": "out_for_delivery"}],
            },
            "steps": [
                {"id": "settle", "type": "wait", "duration": "30m"},
                {
                    "id": "still-out",
                    "type": "condition",
                    "if": {"field": "shipment.status", "op": "eq", "value": "out_for_delivery"},
                    "then": "send",
                    "else": "end",
                },
                {"id": "send", "type": "send", "kind": "out_for_delivery"},
            ],
            "exit": TRACKING_EXITS,
        },
    ),
    Builtin(
        "delivery-delayed",
        "Delivery delayed",
        "Apologises when a parcel is past its estimate or promise, with the new estimate.",
        _issue_flow("shipment.late", "delivery_delayed"),
    ),
    Builtin(
        "delivery-exception",
        "Delivery problem",
        "Explains a carrier exception (address, customs, damage …) and what the shopper can do.",
        _issue_flow("shipment.exception", "delivery_exception"),
    ),
    Builtin(
        "delivery-attempt-failed",
        "Delivery attempt failed",
        "Tells the shopper the carrier missed them and how to get the parcel.",
        _issue_flow("shipment.attempt_failed", "delivery_attempt_failed"),
    ),
    Builtin(
        "ready-for-pickup",
        "Ready for pickup",
        "Tells the shopper where the parcel waits for them.",
        _issue_flow("shipment.ready_for_pickup", "ready_for_pickup"),
    ),
    Builtin(
        "returning-to-sender",
        "Returning to sender",
        "Tells the shopper the parcel is coming back and asks: resend or refund?",
        {
            "trigger": {"event": "shipment.returning_to_sender"},
            "steps": [{"id": "send", "type": "send", "kind": "returning_to_sender"}],
            "exit": [{"event": "order.cancelled"}],
        },
    ),
]

# A return's own parcel (the returns app's label, shipment.is_return) is not news about the
# delivery of the order: the flows about parcels leave it to the return's messages.
NOT_A_RETURN = {"field": "shipment.is_return", "op": "is_false"}


def _outbound_parcels_only(spec: Builtin) -> Builtin:
    trigger = spec.definition["trigger"]
    if not trigger["event"].startswith("shipment."):
        return spec
    filters = [NOT_A_RETURN, *trigger.get("filters", [])]
    definition = {**spec.definition, "trigger": {**trigger, "filters": filters}}
    return Builtin(spec.key, spec.name, spec.description, definition)


# The surveys' other placements (feedback/flows.py): CES when a return closes, and promoters
# asked for a review. CSAT after delivery is there too, but not switched on for every store: it
# would ask the same shoppers as the NPS survey.
BUILTIN_FLOWS += [
    Builtin(flow["key"], flow["name"], flow["description"], flow["definition"])
    for flow in SURVEY_FLOWS
    if flow["key"] in ("survey-ces-return", "promoter-review")
]
BUILTIN_FLOWS = [_outbound_parcels_only(spec) for spec in BUILTIN_FLOWS]
BUILTIN_KEYS = frozenset(spec.key for spec in BUILTIN_FLOWS)


def builtin_flows_missing(store: Store) -> bool:
    """Whether the store lacks a built-in flow (new in this release, or a new store). Flows are
    never deleted — only switched off — so a missing key was never added."""
    return Flow.objects.filter(store=store, key__in=BUILTIN_KEYS).count() < len(BUILTIN_KEYS)


def ensure_builtin_flows(store: Store) -> list[Flow]:
    """Add the built-in flows this store lacks (active); idempotent. Returns the ones added."""
    have = set(Flow.objects.filter(store=store).values_list("key", flat=True))
    added = []
    for spec in BUILTIN_FLOWS:
        if spec.key in have:
            continue
        try:
            with transaction.atomic():
                added.append(
                    flow_create(
                        store=store,
                        key=spec.key,
                        name=spec.name,
                        description=spec.description,
                        definition=spec.definition,
                        builtin=True,
                    )
                )
        except (IntegrityError, Conflict):
            continue  # a concurrent caller added it
    return added
