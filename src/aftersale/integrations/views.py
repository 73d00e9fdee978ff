"""Receivers for shop webhooks: verify the signature on the raw body, store, answer at once.

Answers: 202 stored and queued; 200 a repeated delivery, a topic we do not act on, or a
WooCommerce ping (nothing queued); 400 an unreadable body; 401 a missing or wrong signature
(nothing stored); 404 an unknown store; 405 anything but POST; 413 a body over the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.core.signing import verify_base64_hmac
from aftersale.integrations.models import Platform
from aftersale.integrations.services import inbound_receive

SHOPIFY_HEADERS = (
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-API-Version",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Event-Id",
    "X-Shopify-Triggered-At",
)
WOOCOMMERCE_HEADERS = (
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
)
# WooCommerce pings a new webhook's URL with this form body and no signature.
WOOCOMMERCE_PING = re.compile(rb"webhook_id=\d+")


def error_response(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@dataclass(frozen=True)
class Receiver:
    platform: str
    store_secret: Callable[[Store], str]
    signature_header: str
    topic_header: str
    delivery_header: str
    kept_headers: tuple[str, ...]


SHOPIFY = Receiver(
    platform=Platform.SHOPIFY,
    store_secret=attrgetter("shopify_webhook_secret"),
    signature_header="X-Shopify-Hmac-Sha256",
    topic_header="X-Shopify-Topic",
    delivery_header="X-Shopify-Webhook-Id",
    kept_headers=SHOPIFY_HEADERS,
)
WOOCOMMERCE = Receiver(
    platform=Platform.WOOCOMMERCE,
    store_secret=attrgetter("woocommerce_webhook_secret"),
    signature_header="X-WC-Webhook-Signature",
    topic_header="X-WC-Webhook-Topic",
    delivery_header="X-WC-Webhook-Delivery-ID",
    kept_headers=WOOCOMMERCE_HEADERS,
)


def _receive(request: HttpRequest, store_slug: str, spec: Receiver) -> JsonResponse:
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        return error_response(404, f"no store {store_slug!r}")
    try:
        body = request.body
    except RequestDataTooBig:
        return error_response(413, "request body is over the limit")
    signature = request.headers.get(spec.signature_header)
    if (
        spec.platform == Platform.WOOCOMMERCE
        and signature is None
        and WOOCOMMERCE_PING.fullmatch(body.strip())
    ):
        return JsonResponse({"detail": "pong"}, status=200)
    if not verify_base64_hmac(spec.store_secret(store), body, signature):
        return error_response(401, f"{spec.signature_header} is missing or does not match the body")
    topic = request.headers.get(spec.topic_header, "").strip()
    if not topic:
        return error_response(400, f"{spec.topic_header} is missing")
    try:
        receipt = inbound_receive(
            store=store,
            platform=spec.platform,
            topic=topic,
            delivery_id=request.headers.get(spec.delivery_header, "").strip() or None,
            body=body,
            headers={
                name: request.headers[name][:300]
                for name in spec.kept_headers
                if name in request.headers
            },
        )
    except DomainError as exc:
        return error_response(400, exc.message)
    return receipt_response(receipt)


def receipt_response(receipt) -> JsonResponse:
    """202 with the stored payload's id when it is new, 200 when it was a repeat."""
    if receipt.outcome == "duplicate":
        return JsonResponse({"detail": "already received"}, status=200)
    assert receipt.payload is not None
    return JsonResponse(
        {"id": receipt.payload.public_id, "status": receipt.payload.status},
        status=202 if receipt.outcome == "accepted" else 200,
    )


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest, store_slug: str) -> JsonResponse:
    return _receive(request, store_slug, SHOPIFY)


@csrf_exempt
@require_POST
def woocommerce_webhook(request: HttpRequest, store_slug: str) -> JsonResponse:
    return _receive(request, store_slug, WOOCOMMERCE)
