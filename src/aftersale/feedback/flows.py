"""The flows that place the surveys, as data shaped like journeys/builtin.py (journeys owns the
built-in list and adds these; tests/feedback/test_flows.py checks that each one parses).

- NPS a few days after delivery; CSAT the day after delivery (a store usually runs one of the
  two after delivery: both share the fatigue budget, which keeps a shopper from getting both
  within its window); CES right after a return or exchange closes (returns emits return.closed);
- promoters are asked for a review (survey.answered, emitted by feedback).
"""

from __future__ import annotations

EXITS = [{"event": "order.cancelled"}, {"event": "refund.created"}, {"unsubscribed": True}]

FLOWS: list[dict] = [
    {
        "key": "survey-nps",
        "name": "NPS survey after delivery",
        "description": "Asks how likely the shopper is to recommend the shop, four days after "
        "the order was delivered.",
        "definition": {
            "trigger": {"event": "shipment.delivered", "once_per": "order"},
            "steps": [
                {"id": "wait-4d", "type": "wait", "duration": "4d"},
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "ask", "type": "send", "kind": "survey_nps"},
            ],
            "exit": EXITS,
        },
    },
    {
        "key": "survey-csat-delivery",
        "name": "CSAT survey after delivery",
        "description": "Asks how satisfied the shopper is with the delivery, the day after.",
        "definition": {
            "trigger": {"event": "shipment.delivered"},
            "steps": [
                {"id": "wait-1d", "type": "wait", "duration": "1d"},
                {"id": "morning", "type": "wait", "until_time": "10:00"},
                {"id": "ask", "type": "send", "kind": "survey_csat"},
            ],
            "exit": EXITS,
        },
    },
    {
        "key": "survey-ces-return",
        "name": "CES survey after a return",
        "description": "Asks how easy the return or exchange was, two hours after it closed.",
        "definition": {
            "trigger": {"event": "return.closed"},
            "steps": [
                {"id": "wait-2h", "type": "wait", "duration": "2h"},
                {"id": "ask", "type": "send", "kind": "survey_ces"},
            ],
            "exit": [{"unsubscribed": True}],
        },
    },
    {
        "key": "promoter-review",
        "name": "Ask promoters for a review",
        "description": "A shopper who scored 9–10 (NPS) or 4–5 (CSAT) is asked for a review an "
        "hour later, unless they already wrote one.",
        "definition": {
            "trigger": {
                "event": "survey.answered",
                "once_per": "order",
                "filters": [{"field": "customer.is_promoter", "op": "is_true"}],
            },
            "steps": [
                {"id": "wait-1h", "type": "wait", "duration": "1h"},
                {
                    "id": "still-happy",
                    "type": "condition",
                    "if": {"field": "customer.is_promoter", "op": "is_true"},
                    "then": "reviewed",
                    "else": "end",
                },
                {
                    "id": "reviewed",
                    "type": "condition",
                    "if": {"field": "customer.has_left_review", "op": "is_true"},
                    "then": "end",
                    "else": "ask",
                },
                {"id": "ask", "type": "send", "kind": "review_request"},
            ],
            "exit": EXITS,
        },
    },
]
