"""The receivers: signature, dedupe, fast answer with a stored row and a queued task."""

from __future__ import annotations

import json

import pytest
from django_tasks_db.models import DBTaskResult

from aftersale.integrations.models import InboundPayload
from tests.integrations.conftest import UNSIGNED, queued_task_count

pytestmark = pytest.mark.django_db


def test_signed_order_is_stored_raw_and_queued(post_shopify, raw_payload, shop):
    body = raw_payload("shopify_order.json")

    response = post_shopify("orders/create", body, webhook_id="b54557e4-bdd9-4b37-8a5f")

    assert response.status_code == 202
    payload = InboundPayload.objects.get()
    assert response.json() == {"id": payload.public_id, "status": "received"}
    assert payload.store == shop
    assert payload.platform == "shopify"
    assert payload.topic == "orders/create"
    assert payload.delivery_id == "b54557e4-bdd9-4b37-8a5f"
    assert payload.body == body.decode()
    assert payload.object_ref == "order:shopify:450789469"
    assert payload.external_id == "450789469"
    assert payload.status == "received"
    assert payload.headers == {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f",
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
        "X-Shopify-API-Version": "2025-01",
    }
    task = DBTaskResult.objects.get()
    assert task.queue_name == "inbound"
    assert task.task_path == "aftersale.integrations.tasks.process_inbound_payload"
    assert task.args_kwargs == {"args": [], "kwargs": {"payload_id": payload.pk}}


@pytest.mark.parametrize(
    "signature",
    [
        "d3Jvbmc=",  # base64 of "wrong"
        "",  # present but empty
        UNSIGNED,
        "d3Jvbmc=é",  # not even ASCII
    ],
    ids=["wrong", "empty", "missing", "non-ascii"],
)
def test_bad_or_missing_signature_is_401_and_stores_nothing(post_shopify, raw_payload, signature):
    response = post_shopify(
        "orders/create", raw_payload("shopify_order.json"), signature=signature or " "
    )

    assert response.status_code == 401
    assert "X-Shopify-Hmac-Sha256" in response.json()["detail"]
    assert InboundPayload.objects.count() == 0
    assert queued_task_count() == 0


def test_signature_of_another_body_is_refused(post_shopify, raw_payload):
    from aftersale.core.signing import hmac_sha256_base64

    body = raw_payload("shopify_order.json")
    tampered = body.replace(b'"total_price": "409.94"', b'"total_price": "0.01"')
    response = post_shopify(
        "orders/create",
        tampered,
        signature=hmac_sha256_base64("shopify-app-secret-for-tests", body),
    )
    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0


def test_store_without_a_secret_refuses_everything(post_shopify, raw_payload, shop):
    shop.shopify_webhook_secret = ""
    shop.save()
    response = post_shopify("orders/create", raw_payload("shopify_order.json"))
    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0


def test_repeat_of_a_webhook_id_is_answered_and_dropped(post_shopify, raw_payload):
    body = raw_payload("shopify_order.json")
    first = post_shopify("orders/create", body, webhook_id="same-id")

    again = post_shopify("orders/create", body, webhook_id="same-id")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"detail": "already received"}
    assert InboundPayload.objects.count() == 1
    assert queued_task_count() == 1


def test_same_webhook_id_in_another_store_is_another_delivery(
    post_shopify, raw_payload, other_store
):
    other_store.shopify_webhook_secret = "shopify-app-secret-for-tests"
    other_store.save()
    body = raw_payload("shopify_order.json")
    post_shopify("orders/create", body, webhook_id="same-id")
    response = post_shopify("orders/create", body, webhook_id="same-id", slug=other_store.slug)
    assert response.status_code == 202
    assert InboundPayload.objects.filter(delivery_id="same-id").count() == 2


def test_unknown_store_is_404(post_shopify, raw_payload):
    response = post_shopify("orders/create", raw_payload("shopify_order.json"), slug="nobody")
    assert response.status_code == 404
    assert InboundPayload.objects.count() == 0


def test_unsupported_topic_is_stored_as_ignored_and_not_queued(post_shopify):
    response = post_shopify("products/create", {"id": 632910392, "title": "IPod Nano"})

    assert response.status_code == 200
    payload = InboundPayload.objects.get()
    assert response.json() == {"id": payload.public_id, "status": "ignored"}
    assert payload.status == "ignored"
    assert queued_task_count() == 0


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_body_that_is_not_a_json_object_is_400(post_shopify, body):
    response = post_shopify("orders/create", body)
    assert response.status_code == 400
    assert InboundPayload.objects.count() == 0
    assert queued_task_count() == 0


def test_missing_topic_is_400(client, shop):
    from aftersale.core.signing import hmac_sha256_base64

    body = b"{}"
    response = client.post(
        f"/webhooks/shopify/{shop.slug}",
        data=body,
        content_type="application/json",
        headers={"X-Shopify-Hmac-Sha256": hmac_sha256_base64("shopify-app-secret-for-tests", body)},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "X-Shopify-Topic is missing"}


def test_missing_webhook_id_dedupes_by_body(post_shopify, raw_payload, client, shop):
    from aftersale.core.signing import hmac_sha256_base64

    body = raw_payload("shopify_order.json")
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": hmac_sha256_base64("shopify-app-secret-for-tests", body),
    }
    url = f"/webhooks/shopify/{shop.slug}"
    first = client.post(url, data=body, content_type="application/json", headers=headers)
    again = client.post(url, data=body, content_type="application/json", headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert InboundPayload.objects.get().delivery_id.startswith("sha256:")


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post(client, shop, method):
    response = getattr(client, method)(f"/webhooks/shopify/{shop.slug}")
    assert response.status_code == 405
    response = getattr(client, method)(f"/webhooks/woocommerce/{shop.slug}")
    assert response.status_code == 405


def test_body_over_the_limit_is_413(post_shopify, settings):
    settings.AFTERSALE_MAX_BODY_BYTES = 1000
    response = post_shopify("orders/create", {"id": 1, "note": "x" * 2000})
    assert response.status_code == 413
    assert InboundPayload.objects.count() == 0


def test_receivers_need_no_csrf_token(shop, raw_payload):
    from django.test import Client

    from aftersale.core.signing import hmac_sha256_base64

    body = raw_payload("woocommerce_order.json")
    response = Client(enforce_csrf_checks=True).post(
        f"/webhooks/woocommerce/{shop.slug}",
        data=body,
        content_type="application/json",
        headers={
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": "d1",
            "X-WC-Webhook-Signature": hmac_sha256_base64("woocommerce-secret-for-tests", body),
        },
    )
    assert response.status_code == 202


# -- WooCommerce ----------------------------------------------------------------------------------


def test_woo_signed_order_is_stored_and_queued(post_woo, raw_payload):
    response = post_woo("order.created", raw_payload("woocommerce_order.json"), delivery_id="d-1")

    assert response.status_code == 202
    payload = InboundPayload.objects.get()
    assert (payload.platform, payload.topic, payload.delivery_id, payload.object_ref) == (
        "woocommerce",
        "order.created",
        "d-1",
        "order:woocommerce:727",
    )
    assert payload.headers["X-WC-Webhook-ID"] == "12"
    assert queued_task_count() == 1


@pytest.mark.parametrize("signature", ["d3Jvbmc=", UNSIGNED], ids=["wrong", "missing"])
def test_woo_bad_signature_is_401(post_woo, raw_payload, signature):
    response = post_woo("order.created", raw_payload("woocommerce_order.json"), signature=signature)
    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0
    assert queued_task_count() == 0


def test_woo_repeat_delivery_is_dropped(post_woo, raw_payload):
    body = raw_payload("woocommerce_order.json")
    post_woo("order.updated", body, delivery_id="d-1")
    again = post_woo("order.updated", body, delivery_id="d-1")
    assert again.status_code == 200
    assert InboundPayload.objects.count() == 1
    assert queued_task_count() == 1


def test_woo_ping_is_answered_without_storing(client, shop):
    response = client.post(
        f"/webhooks/woocommerce/{shop.slug}",
        data="webhook_id=12",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert InboundPayload.objects.count() == 0
    assert queued_task_count() == 0


def test_woo_unsigned_body_that_is_not_a_ping_is_401(client, shop):
    response = client.post(
        f"/webhooks/woocommerce/{shop.slug}",
        data=json.dumps({"id": 727}),
        content_type="application/json",
        headers={"X-WC-Webhook-Topic": "order.deleted"},
    )
    assert response.status_code == 401
    assert InboundPayload.objects.count() == 0


def test_woo_unsupported_topic_is_ignored(post_woo):
    response = post_woo("product.created", {"id": 93})
    assert response.status_code == 200
    assert InboundPayload.objects.get().status == "ignored"
    assert queued_task_count() == 0
