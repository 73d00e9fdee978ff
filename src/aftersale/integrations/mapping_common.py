"""Small pure helpers shared by the platform mappings: lenient readers of vendor JSON values.

Vendors send nulls, empty strings, numbers as strings and strings as numbers; these turn what
they send into our types, dropping what cannot be used instead of failing the whole payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import EmailStr, HttpUrl, TypeAdapter, ValidationError

from aftersale.customers.schemas import normalize_phone


@dataclass(frozen=True)
class BodyRef:
    """What a webhook body is about: e.g. ("order:shopify:450789469", "255858046", <time>) for
    a fulfillment: the order it belongs to, its own id, and when the platform last changed it."""

    object_ref: str
    external_id: str
    updated_at: datetime | None


_EMAIL = TypeAdapter(EmailStr)
_URL = TypeAdapter(HttpUrl)


def text(value: object, limit: int) -> str:
    """A trimmed string no longer than `limit`; None and missing become ""."""
    if value is None:
        return ""
    return str(value).strip()[:limit]


def money(value: object) -> Decimal:
    """A decimal amount; null or empty is zero. A value that is not a number raises ValueError."""
    if value is None or value == "":
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def external_id(value: object) -> str | None:
    """A vendor id as our external id; 0, null and "" mean "none" (WooCommerce guests have 0)."""
    if value is None or value in ("", 0, "0"):
        return None
    return str(value)[:100]


def utc(value: object, *, naive_is_utc: bool = False) -> datetime | None:
    """An ISO 8601 time as aware UTC. A time without offset is refused unless the vendor's field
    is documented as UTC (WooCommerce's *_gmt fields)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"time without a UTC offset: {value!r}")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def email(value: object) -> str | None:
    """A usable e-mail address, or None (an address we could not send to is no address)."""
    candidate = text(value, 254)
    if not candidate:
        return None
    try:
        return str(_EMAIL.validate_python(candidate))
    except ValidationError:
        return None


def phone(value: object, region: str | None) -> str | None:
    """E.164, reading national numbers in the country given; None when it is not a phone number."""
    candidate = text(value, 32)
    if not candidate:
        return None
    try:
        return normalize_phone(candidate, region or None) or None
    except ValueError:
        return None


def url(value: object) -> str | None:
    candidate = text(value, 500)
    if not candidate:
        return None
    try:
        _URL.validate_python(candidate)
    except ValidationError:
        return None
    return candidate


def country(value: object) -> str:
    """An ISO 3166-1 alpha-2 code, upper case, or "" when the value is not one."""
    code = text(value, 3)
    return code.upper() if len(code) == 2 and code.isalpha() else ""


def tag_list(value: object) -> list[str]:
    """Shopify sends tags as one comma-separated string; a list is taken as it is."""
    if not value:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [tag for tag in (text(item, 100) for item in items) if tag]
