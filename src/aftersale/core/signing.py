"""HMAC signatures for webhooks, in and out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse

SIGNATURE_HEADER = "Aftersale-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def hmac_sha256_base64(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_base64_hmac(secret: str, body: bytes, received: str | None) -> bool:
    if not secret or not received:
        return False
    # Bytes, not str: compare_digest refuses str with non-ASCII characters, and a header can
    # carry any byte.
    return hmac.compare_digest(
        hmac_sha256_base64(secret, body).encode(), received.strip().encode("utf-8", "replace")
    )


def sign_outbound(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` (see docs/webhooks.md)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_outbound(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> bool:
    """What a receiver does: check the timestamp is fresh, then compare the MAC in constant time."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
        received = parts["v1"]
    except (KeyError, ValueError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


# -- signed links for shoppers (tracking page, preferences, unsubscribe, clicks) -----------------


def sign_link(salt: str, data: dict) -> str:
    """A URL-safe token carrying `data`, signed with SECRET_KEY and a purpose salt. No timestamp:
    the same data gives the same token, and it keeps working."""
    # zlib only shortens payloads of about a hundred bytes and more; below that Django keeps the
    # plain form anyway, so skipping the attempt gives the same token without the work.
    worth_compressing = sum(len(str(value)) for value in data.values()) > _COMPRESS_FROM
    return _link_signer(salt, settings.SECRET_KEY).sign_object(data, compress=worth_compressing)


_COMPRESS_FROM = 80


@lru_cache(maxsize=64)
def _link_signer(salt: str, secret_key: str) -> signing.Signer:
    # Messages sign several links each; a Signer per call re-reads the settings every time.
    return signing.Signer(key=secret_key, salt=salt)


def token_path(route: str, token: str) -> str:
    """reverse(route, args=[token]) for a token made by sign_link, without reversing each time."""
    before, after = _route_around_token(route, get_urlconf(), get_script_prefix())
    return f"{before}{token}{after}"


_SLOT = "__token__"


@lru_cache(maxsize=128)
def _route_around_token(route: str, urlconf, script_prefix: str) -> tuple[str, str]:
    # A signed token is base64url with colons, which reverse() leaves as it is: reversing each
    # route once and splicing tokens in gives the same path for a fraction of the cost (messages
    # carry several signed links each).
    path = reverse(route, args=[_SLOT], urlconf=urlconf)
    before, _, after = path.partition(_SLOT)
    return before, after


def read_link(salt: str, token: str) -> dict:
    """What a token made by sign_link carries; empty when it is forged, altered or for another
    purpose."""
    try:
        data = signing.Signer(salt=salt).unsign_object(token)
    except signing.BadSignature:
        return {}
    return data if isinstance(data, dict) else {}
