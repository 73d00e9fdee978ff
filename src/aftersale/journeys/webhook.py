"""The webhook step: a signed JSON POST to the merchant, the same way outbound webhooks are sent
(core/signing.py, explicit timeout, no redirects, private addresses refused), without importing
the webhooks app, which sits in the same layer."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from aftersale.core.outbound import check_outbound_url
from aftersale.core.services import DomainError
from aftersale.core.signing import SIGNATURE_HEADER, sign_outbound

RESPONSE_EXCERPT_BYTES = 500


def check_url(url: str) -> str:
    return check_outbound_url(url)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    excerpt: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_signed(*, url: str, secret: str, document: dict, idempotency_key: str) -> PostResult:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aftersale-journeys/1",
        "Idempotency-Key": idempotency_key,
        SIGNATURE_HEADER: sign_outbound(secret, body, int(time.time())),
    }
    try:
        check_url(url)
        with httpx.Client(
            timeout=settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            response = client.post(url, content=body, headers=headers)
    except DomainError as exc:
        return PostResult(None, f"refused: {exc.message}", "")
    except httpx.TimeoutException:
        return PostResult(
            None, f"timed out after {settings.AFTERSALE_WEBHOOK_TIMEOUT_SECONDS}s", ""
        )
    except httpx.HTTPError as exc:
        return PostResult(None, f"{type(exc).__name__}: {exc}", "")
    excerpt = response.content[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return PostResult(response.status_code, error, excerpt)
