"""Signed tokens for the links in messages: preferences, one-click unsubscribe, tracked clicks.

They carry public ids only and are signed with the installation's SECRET_KEY (and a purpose salt),
so nobody can forge or alter them; no login is needed to use them. They carry no timestamp: the
same link is the same text every time, and it keeps working as long as the order exists.
"""

from __future__ import annotations

from django.conf import settings

from aftersale.core.signing import read_link, sign_link, token_path

_PREFERENCES = "aftersale.messaging.preferences"
_UNSUBSCRIBE = "aftersale.messaging.unsubscribe"
_CLICK = "aftersale.messaging.click"
_ORDER = "aftersale.messaging.order"


def _url(name: str, token: str) -> str:
    return settings.PUBLIC_BASE_URL + token_path(name, token)


def preferences_token(customer_public_id: str) -> str:
    return sign_link(_PREFERENCES, {"c": customer_public_id})


def preferences_url(customer_public_id: str) -> str:
    return _url("messaging:preferences", preferences_token(customer_public_id))


def read_preferences_token(token: str) -> str | None:
    return read_link(_PREFERENCES, token).get("c")


def unsubscribe_token(message_public_id: str) -> str:
    return sign_link(_UNSUBSCRIBE, {"m": message_public_id})


def unsubscribe_url(message_public_id: str) -> str:
    return _url("messaging:unsubscribe", unsubscribe_token(message_public_id))


def read_unsubscribe_token(token: str) -> str | None:
    return read_link(_UNSUBSCRIBE, token).get("m")


def click_url(message_public_id: str, target: str) -> str:
    token = sign_link(_CLICK, {"m": message_public_id, "u": target})
    return _url("messaging:click", token)


def read_click_token(token: str) -> tuple[str, str] | None:
    data = read_link(_CLICK, token)
    if "m" not in data or "u" not in data:
        return None
    return data["m"], data["u"]


def order_token(order_public_id: str) -> str:
    return sign_link(_ORDER, {"o": order_public_id})


def order_url(order_public_id: str) -> str:
    return _url("messaging:order", order_token(order_public_id))


def read_order_token(token: str) -> str | None:
    return read_link(_ORDER, token).get("o")
