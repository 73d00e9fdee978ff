"""Cursor pagination over (updated_at, public_id): opaque to clients, no internal keys inside."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from django.db.models import Q, QuerySet

from aftersale.core.services import DomainError

MAX_LIMIT = 200


def encode_cursor(updated_at: datetime, public_id: str) -> str:
    raw = json.dumps([updated_at.isoformat(), public_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, public_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(stamp), str(public_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise DomainError("not a cursor this API gave out", field="cursor") from None


def paginate(qs: QuerySet, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """One page ordered by (updated_at, public_id), and the cursor of the next page (or None)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise DomainError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    qs = qs.order_by("updated_at", "public_id")
    if cursor:
        stamp, public_id = decode_cursor(cursor)
        qs = qs.filter(Q(updated_at__gt=stamp) | Q(updated_at=stamp, public_id__gt=public_id))
    rows = list(qs[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].updated_at, rows[-1].public_id)
