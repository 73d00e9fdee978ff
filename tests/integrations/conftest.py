"""Fixtures for inbound shop webhooks: a store with secrets and signed POST helpers."""

from __future__ import annotations

import json
import uuid

import pytest
from django_tasks_db.models import DBTaskResult

from aftersale.core.signing import hmac_sha256_base64
from aftersale.core.worker import build_worker

SHOPIFY_SECRET = "shopify-app-secret-for-tests"
WOO_SECRET = "woocommerce-secret-for-tests"
UNSIGNED = object()


@pytest.fixture
def shop(store):
    store.shopify_webhook_secret = SHOPIFY_SECRET
    store.woocommerce_webhook_secret = WOO_SECRET
    store.save(update_fields=["shopify_webhook_secret", "woocommerce_webhook_secret"])
    return store


@pytest.fixture
def raw_payload(shared_data):
    """A payload file's bytes exactly as stored, the way the platform would send them."""

    def load(name: str) -> bytes:
        return (shared_data / "payloads" / name).read_bytes()

    return load


def as_bytes(body: bytes | dict) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def post_shopify(client, shop):
    def post(topic, body, *, webhook_id=None, signature=None, slug=None):
        raw = as_bytes(body)
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": "acme.myshopify.com",
            "X-Shopify-API-Version": "2025-01",
        }
        if signature is not UNSIGNED:
            headers["X-Shopify-Hmac-Sha256"] = signature or hmac_sha256_base64(SHOPIFY_SECRET, raw)
        return client.post(
            f"/webhooks/shopify/{slug or shop.slug}",
            data=raw,
            content_type="application/json",
            headers=headers,
        )

    return post


@pytest.fixture
def post_woo(client, shop):
    def post(topic, body, *, delivery_id=None, signature=None):
        raw = as_bytes(body)
        headers = {
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".")[0],
            "X-WC-Webhook-Event": topic.split(".")[-1],
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
            "X-WC-Webhook-Source": "https://shop.example.com/",
        }
        if signature is not UNSIGNED:
            headers["X-WC-Webhook-Signature"] = signature or hmac_sha256_base64(WOO_SECRET, raw)
        return client.post(
            f"/webhooks/woocommerce/{shop.slug}",
            data=raw,
            content_type="application/json",
            headers=headers,
        )

    return post


def run_worker() -> None:
    """Run every task that is due, the way a worker does (needs a transaction=True test)."""
    build_worker(queue_names=["*"], batch=True).run()


def queued_task_count() -> int:
    return DBTaskResult.objects.count()
