"""Signed links of a survey message: one per score (the one-click answer) and one for the page.

They carry the message's public id (and the score), signed with SECRET_KEY and a purpose salt:
nobody can forge one or move a score link to another score. How long they work is decided when
they are used (the store's Survey.link_valid_days after the message was sent), so a store can
lengthen or shorten it for links already sent.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.urls import reverse

from aftersale.core.signing import read_link, sign_link, token_path

_SCORE = "aftersale.feedback.score"
_PAGE = "aftersale.feedback.page"


def score_token(message_public_id: str, score: int) -> str:
    return sign_link(_SCORE, {"m": message_public_id, "s": score})


def score_path(message_public_id: str, score: int) -> str:
    return token_path("feedback:score", score_token(message_public_id, score))


def score_url(message_public_id: str, score: int) -> str:
    return settings.PUBLIC_BASE_URL + score_path(message_public_id, score)


def read_score_token(token: str) -> tuple[str, int] | None:
    data = read_link(_SCORE, token)
    message_id, score = data.get("m"), data.get("s")
    if not isinstance(message_id, str) or not isinstance(score, int) or isinstance(score, bool):
        return None
    return message_id, score


def page_token(message_public_id: str) -> str:
    return sign_link(_PAGE, {"m": message_public_id})


@cache
def _page_prefix() -> str:
    return reverse("feedback:page", args=["-"])[:-1]


def page_path(message_public_id: str) -> str:
    return _page_prefix() + page_token(message_public_id)


def page_url(message_public_id: str) -> str:
    return settings.PUBLIC_BASE_URL + page_path(message_public_id)


def read_page_token(token: str) -> str | None:
    message_id = read_link(_PAGE, token).get("m")
    return message_id if isinstance(message_id, str) else None
