"""Receivers for tracking providers' webhooks: verify on the raw body, store, answer at once.

Answers: 202 stored and queued; 200 a repeated delivery or an event we do not act on (stored as
ignored); 400 an unreadable body; 401 a missing or wrong signature or token, or no secret set
for the store (nothing stored); 404 an unknown store or provider; 405 anything but POST; 413 a
body over the limit. The work happens in integrations.carriers.process_carrier_payload.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.integrations.carriers import RECEIVERS, carrier_receive, carrier_verify
from aftersale.integrations.views import error_response, receipt_response


@csrf_exempt
@require_POST
def carrier_webhook(request: HttpRequest, provider: str, store_slug: str) -> JsonResponse:
    spec = RECEIVERS.get(provider)
    if spec is None:
        return error_response(404, f"no tracking provider {provider!r}")
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        return error_response(404, f"no store {store_slug!r}")
    try:
        body = request.body
    except RequestDataTooBig:
        return error_response(413, "request body is over the limit")
    if not carrier_verify(
        store=store, provider=provider, body=body, headers=request.headers, query=request.GET
    ):
        return error_response(401, spec.refusal)
    try:
        receipt = carrier_receive(
            store=store,
            provider=provider,
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
