"""The messages a return sends, registered with messaging, and their default wording.

Every kind is transactional and about the order; `return_context` gives the templates
`links.return_url` (the return's status page), `links.return_label_url` (its label, once there is
one) and a `return` block (reference, status, outcome, amounts in the shopper's locale, items,
label, credit code …). The messages are queued by returns/notify.py on the return.* events.
"""

from __future__ import annotations

from pathlib import Path

from aftersale.messaging.kinds import MessageKind, register_kind
from aftersale.messaging.message_templates import register_default_templates
from aftersale.messaging.models import Category

T = Category.TRANSACTIONAL

# kind code → (title, priority, the return.* event that sends it)
KINDS = {
    "return_requested": ("Return requested", 83, "return.requested"),
    "return_approved": ("Return approved", 83, "return.approved"),
    "return_rejected": ("Return not accepted", 83, "return.rejected"),
    "return_label": ("Return label", 83, "return.label_issued"),
    "return_received": ("Return received", 82, "return.received"),
    "return_refunded": ("Return refunded", 84, "return.refunded"),
    "return_credited": ("Return credited", 84, "return.credited"),
    "return_exchanged": ("Return exchanged", 84, "return.exchanged"),
}
KIND_FOR_EVENT = {event: code for code, (_, _, event) in KINDS.items()}


def return_context(message) -> dict:
    from aftersale.returns.notify import message_return_context

    return message_return_context(message)


for _code, (_title, _priority, _event) in KINDS.items():
    register_kind(
        MessageKind(
            _code,
            _title,
            T,
            priority=_priority,
            about="order",
            ignores_quiet_hours=False,
            context=return_context,
        )
    )

register_default_templates(Path(__file__).parent / "message_defaults")

from aftersale.returns import notify  # noqa: E402,F401  (subscribes to the return.* events)
