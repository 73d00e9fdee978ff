"""Shared fixtures. DATABASE_URL picks the database (unset: SQLite); one suite runs on both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data set at {SHARED_DATA} (absent on this machine)")
    return SHARED_DATA


@pytest.fixture
def payload(shared_data):
    def load(name: str) -> dict:
        return json.loads((shared_data / "payloads" / name).read_text())

    return load


@pytest.fixture
def store(db):
    from aftersale.core.services import store_create

    return store_create(
        slug="acme",
        name="Acme Outdoor",
        currency="EUR",
        time_zone="Europe/Berlin",
        default_locale="de",
    )


@pytest.fixture
def other_store(db):
    from aftersale.core.services import store_create

    return store_create(
        slug="brisa",
        name="Brisa Casa",
        currency="BRL",
        time_zone="America/Sao_Paulo",
        default_locale="pt-br",
    )


class ApiClient:
    """A test client that speaks JSON with a bearer key."""

    def __init__(self, token: str):
        self.client = Client()
        self.token = token

    def _headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        headers.update(extra or {})
        return headers

    def get(self, path, params=None, **kw):
        return self.client.get(path, params or {}, headers=self._headers(kw.pop("headers", None)))

    def _send(self, method, path, data, raw=None, headers=None):
        body = raw if raw is not None else json.dumps(data)
        return getattr(self.client, method)(
            path, body, content_type="application/json", headers=self._headers(headers)
        )

    def post(self, path, data=None, *, raw=None, headers=None):
        return self._send("post", path, data, raw, headers)

    def patch(self, path, data=None, *, raw=None, headers=None):
        return self._send("patch", path, data, raw, headers)

    def put(self, path, data=None, *, raw=None, headers=None):
        return self._send("put", path, data, raw, headers)

    def delete(self, path):
        return self.client.delete(path, headers=self._headers())


@pytest.fixture
def api(store) -> ApiClient:
    from aftersale.core.services import api_key_create

    _, token = api_key_create(store=store, name="tests", scope="write")
    return ApiClient(token)


@pytest.fixture
def read_api(store) -> ApiClient:
    from aftersale.core.services import api_key_create

    _, token = api_key_create(store=store, name="read-only", scope="read")
    return ApiClient(token)


@pytest.fixture
def other_api(other_store) -> ApiClient:
    from aftersale.core.services import api_key_create

    _, token = api_key_create(store=other_store, name="other", scope="write")
    return ApiClient(token)


@pytest.fixture(autouse=True)
def _fresh_store_cache():
    """Rolled-back test transactions reuse primary keys, so the per-process store cache must not
    outlive a test."""
    from aftersale.core import services

    services._store_cache.clear()
    yield
    services._store_cache.clear()
