from __future__ import annotations

import hmac
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from aftersale.core import clock
from aftersale.core.models import API_KEY_PREFIX, ApiKey, Store, StoreMember, hash_api_secret
from aftersale.core.money import normalize_currency


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
    store = Store(
        slug=slug,
        name=name,
        currency=normalize_currency(currency),
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


def api_key_resolve(token: str) -> ApiKey | None:
    """The live key for a bearer token, or None (unknown, malformed or revoked)."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    try:
        lookup, secret = token[len(API_KEY_PREFIX) :].split("_", 1)
    except ValueError:
        return None
    key = (
        ApiKey.objects.select_related("store")
        .filter(lookup=lookup, revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    if not hmac.compare_digest(key.secret_hash, hash_api_secret(secret)):
        return None
    now = clock.now()
    # Recorded at minute granularity so that reads do not turn into a write per request.
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
