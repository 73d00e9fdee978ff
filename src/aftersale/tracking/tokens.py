"""Signed links to an order's tracking page (/t/<token>).

The token carries the order's public id only, signed with the installation's SECRET_KEY and a
purpose salt of its own, so a link for another purpose (or another installation) never opens it.
"""

from __future__ import annotations

from django.conf import settings

from aftersale.core.signing import read_link, sign_link, token_path

_TRACKING = "aftersale.tracking.page"


def tracking_token(order_public_id: str) -> str:
    return sign_link(_TRACKING, {"o": order_public_id})


def tracking_path(order_public_id: str) -> str:
    return token_path("tracking:page", tracking_token(order_public_id))


def tracking_url(order_public_id: str) -> str:
    return settings.PUBLIC_BASE_URL + tracking_path(order_public_id)


def read_tracking_token(token: str) -> str | None:
    return read_link(_TRACKING, token).get("o")
