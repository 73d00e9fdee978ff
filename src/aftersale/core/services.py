from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from aftersale.core import clock
from aftersale.core.models import API_KEY_PREFIX, ApiKey, Store, StoreMember, hash_api_secret
from aftersale.core.money import MoneyError, normalize_currency


class DomainError(Exception):
    """A request that cannot be carried out; `field` names the input at fault when there is one."""

    status_code = 422

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class NotFound(DomainError):
    status_code = 404

    def __init__(self, message: str = "not found", *, field: str | None = None):
        super().__init__(message, field=field, code="not_found")


class Conflict(DomainError):
    status_code = 409

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, field=field, code="conflict")


def store_create(
    *,
    slug: str,
    name: str,
    currency: str,
    time_zone: str = "UTC",
    default_locale: str = "en",
    **extra,
) -> Store:
    if Store.objects.filter(slug=slug).exists():
        raise Conflict(f"a store with slug {slug!r} already exists", field="slug")
    try:
        currency = normalize_currency(currency)
    except MoneyError as exc:
        raise DomainError(str(exc), field="currency") from None
    store = Store(
        slug=slug,
        name=name,
        currency=currency,
        time_zone=time_zone,
        default_locale=default_locale,
        **extra,
    )
    try:
        store.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DomainError(f"{field}: {' '.join(messages)}", field=field) from None
    store.save()
    return store


def store_member_add(*, store: Store, username: str, role: str = StoreMember.Role.STAFF):
    user = get_user_model().objects.get(username=username)
    member, _ = StoreMember.objects.update_or_create(
        store=store, user=user, defaults={"role": role}
    )
    return member


def api_key_create(
    *, store: Store, name: str, scope: str = ApiKey.Scope.WRITE
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with its token; the token is shown once and stored hashed."""
    if scope not in ApiKey.Scope.values:
        raise DomainError(f"scope must be one of {', '.join(ApiKey.Scope.values)}", field="scope")
    token, lookup, secret_hash = ApiKey.generate()
    key = ApiKey.objects.create(
        store=store, name=name, scope=scope, lookup=lookup, secret_hash=secret_hash
    )
    return key, token


def api_key_revoke(*, store: Store, public_id: str) -> ApiKey:
    with transaction.atomic():
        try:
            key = ApiKey.objects.select_for_update().get(store=store, public_id=public_id)
        except ApiKey.DoesNotExist:
            raise NotFound(f"no API key {public_id} in store {store.slug}") from None
        if key.revoked_at is None:
            key.revoked_at = clock.now()
            key.save(update_fields=["revoked_at"])
    return key


_LAST_USED_GRANULARITY = timedelta(minutes=1)
_STORE_CACHE_SECONDS = 30.0
_store_cache: dict[int, tuple[float, Store]] = {}


def _cached_store(store_id: int) -> Store:
    # Stores change rarely and every API call needs one; the key row itself is read every time,
    # so revoking a key takes effect at once in every process.
    now = time.monotonic()
    hit = _store_cache.get(store_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    store = Store.objects.get(pk=store_id)
    _store_cache[store_id] = (now + _STORE_CACHE_SECONDS, store)
    return store


def api_key_resolve(token: str) -> ApiKey | None:
    """The live key for a bearer token, or None (unknown, malformed or revoked)."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    lookup, _, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not lookup or not secret:
        return None
    # A hand-written query: this runs on every API request, and the ORM's compile step costs more
    # than the query itself.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, public_id, store_id, name, scope, secret_hash, last_used_at "
            "FROM core_apikey WHERE lookup = %s AND revoked_at IS NULL",
            [lookup],
        )
        row = cursor.fetchone()
    if row is None or not hmac.compare_digest(row[5], hash_api_secret(secret)):
        return None
    key_id, public_id, store_id, name, scope, secret_hash, last_used_at = row
    if isinstance(last_used_at, str):  # SQLite returns text for raw queries
        last_used_at = datetime.fromisoformat(last_used_at)
    if last_used_at is not None and last_used_at.tzinfo is None:
        last_used_at = last_used_at.replace(tzinfo=UTC)
    key = ApiKey(
        id=key_id,
        public_id=public_id,
        store_id=store_id,
        name=name,
        lookup=lookup,
        scope=scope,
        secret_hash=secret_hash,
        last_used_at=last_used_at,
    )
    key.store = _cached_store(store_id)
    now = clock.now()
    # Recorded at minute granularity so that reads do not turn into a write per request.
    if last_used_at is None or now - last_used_at > _LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key_id).update(last_used_at=now)
    return key
