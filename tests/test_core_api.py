import pytest

from aftersale.core.models import ApiKey
from aftersale.core.services import api_key_revoke

pytestmark = pytest.mark.django_db


def test_ping_answers_with_the_keys_store(api, store):
    response = api.get("/api/v1/ping")
    assert response.status_code == 200
    assert response.json() == {"store": "acme", "scope": "write"}


def test_unknown_key_is_401(store):
    from tests.conftest import ApiClient

    response = ApiClient("ask_0000000000000000_nope").get("/api/v1/ping")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_revoked_key_is_401(api, store):
    key = ApiKey.objects.get(store=store, name="tests")
    api_key_revoke(store=store, public_id=key.public_id)
    assert api.get("/api/v1/ping").status_code == 401


def test_keys_are_stored_hashed(api, store):
    key = ApiKey.objects.get(store=store, name="tests")
    assert api.token not in {key.secret_hash, key.lookup}
    assert api.token.split("_", 2)[2] not in key.secret_hash


def test_body_over_the_limit_is_413(api, settings):
    settings.AFTERSALE_MAX_BODY_BYTES = 100
    response = api.post("/api/v1/orders", raw="{" + " " * 200 + "}")
    assert response.status_code == 413


def test_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "aftersale API"


def test_api_docs_load_nothing_from_third_parties(client):
    page = client.get("/api/v1/docs").content.decode()

    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "https://" not in page
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.mark.django_db
def test_a_shoppers_form_over_the_upload_limit_gets_a_page_in_their_language(client, settings):
    settings.AFTERSALE_MAX_UPLOAD_BYTES = 1000
    body = b"--b\r\n" + b"x" * 2000 + b"\r\n--b--\r\n"

    response = client.generic(
        "POST",
        "/returns/reason",
        body,
        content_type="multipart/form-data; boundary=b",
        headers={"Accept-Language": "de", "Referer": "/returns/reason"},
    )

    assert response.status_code == 413
    page = response.content.decode()
    assert '<html lang="de">' in page
    assert "Die Dateien sind zu groß" in page
    assert 'href="/returns/reason"' in page
