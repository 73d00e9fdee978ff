"""Signed tokens for the links in messages: preferences, one-click unsubscribe, tracked clicks.

They carry public ids only and are signed with the installation's SECRET_KEY (and a purpose salt),
so nobody can forge or alter them; no login is needed to use them. They carry no timestamp: the
same link is the same text every time, and it keeps working as long as the order exists.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

_PREFERENCES = "aftersale.messaging.preferences"
_UNSUBSCRIBE = "aftersale.messaging.unsubscribe"
_CLICK = "aftersale.messaging.click"
_ORDER = "aftersale.messaging.order"


def _url(name: str, token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse(name, args=[token])


def preferences_token(customer_public_id: str) -> str:
    return signing.Signer(salt=_PREFERENCES).sign_object({"c": customer_public_id}, compress=True)


def preferences_url(customer_public_id: str) -> str:
    return _url("messaging:preferences", preferences_token(customer_public_id))


def read_preferences_token(token: str) -> str | None:
    try:
        return signing.Signer(salt=_PREFERENCES).unsign_object(token)["c"]
    except (signing.BadSignature, KeyError, TypeError):
        return None


def unsubscribe_token(message_public_id: str) -> str:
    return signing.Signer(salt=_UNSUBSCRIBE).sign_object({"m": message_public_id}, compress=True)


def unsubscribe_url(message_public_id: str) -> str:
    return _url("messaging:unsubscribe", unsubscribe_token(message_public_id))


def read_unsubscribe_token(token: str) -> str | None:
    try:
        return signing.Signer(salt=_UNSUBSCRIBE).unsign_object(token)["m"]
    except (signing.BadSignature, KeyError, TypeError):
        return None


def click_url(message_public_id: str, target: str) -> str:
    token = signing.Signer(salt=_CLICK).sign_object(
        {"m": message_public_id, "u": target}, compress=True
    )
    return _url("messaging:click", token)


def read_click_token(token: str) -> tuple[str, str] | None:
    try:
        data = signing.Signer(salt=_CLICK).unsign_object(token)
        return data["m"], data["u"]
    except (signing.BadSignature, KeyError, TypeError):
        return None


def order_token(order_public_id: str) -> str:
    return signing.Signer(salt=_ORDER).sign_object({"o": order_public_id}, compress=True)


def order_url(order_public_id: str) -> str:
    return _url("messaging:order", order_token(order_public_id))


def read_order_token(token: str) -> str | None:
    try:
        return signing.Signer(salt=_ORDER).unsign_object(token)["o"]
    except (signing.BadSignature, KeyError, TypeError):
        return None
