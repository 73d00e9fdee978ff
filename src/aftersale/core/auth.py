from __future__ import annotations

from ninja.errors import HttpError
from ninja.security import HttpBearer

from aftersale.core.models import ApiKey
from aftersale.core.services import api_key_resolve


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer ask_…`: resolves the key to its store (request.store)."""

    openapi_description = "A store API key: `Authorization: Bearer ask_…` (aftersale apikey create)"

    def authenticate(self, request, token: str) -> ApiKey | None:
        key = api_key_resolve(token)
        if key is None:
            return None
        request.api_key = key
        request.store = key.store
        return key


def require_write(request) -> None:
    key: ApiKey = request.auth
    if not key.can_write:
        raise HttpError(403, "this API key is read-only; use a key with the write scope")
