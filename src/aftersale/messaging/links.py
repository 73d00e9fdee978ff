"""Tracked links: each web link in an email goes through a signed redirect that counts clicks."""

from __future__ import annotations

import html
import re

from django.conf import settings

from aftersale.messaging import tokens

_HREF = re.compile(r'href="(https?://[^"]+)"')


def track_links(body: str, message_public_id: str) -> str:
    own = settings.PUBLIC_BASE_URL + "/m/"  # unsubscribe, preferences: leave them as they are

    def rewrite(match: re.Match) -> str:
        target = html.unescape(match.group(1))
        if target.startswith(own):
            return match.group(0)
        return f'href="{html.escape(tokens.click_url(message_public_id, target))}"'

    return _HREF.sub(rewrite, body)
