"""The JSON API at /api/v1: one router per app, API-key auth, and uniform error bodies."""

from __future__ import annotations

from django.http import Http404
from ninja import NinjaAPI, Router, Schema
from ninja.errors import HttpError, ValidationError

from aftersale.catalog.api import router as catalog_router
from aftersale.core.auth import ApiKeyAuth
from aftersale.core.schemas import READ_ERRORS
from aftersale.core.services import DomainError
from aftersale.customers.api import router as customers_router
from aftersale.feedback.api import router as feedback_router
from aftersale.orders.api import router as orders_router
from aftersale.returns.api import router as returns_router
from aftersale.reviews.api import router as reviews_router
from aftersale.tracking.api import router as tracking_router
from aftersale.webhooks.api import router as webhooks_router

api = NinjaAPI(
    title="aftersale API",
    version="1",
    description=(
        "Orders, customers, products, shipments and refunds in; events out. Authenticate with a "
        "store API key: `Authorization: Bearer ask_…`. Errors have a `detail`, a `code` and, for "
        "422, `errors` naming each field at fault."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _field_path(loc) -> str:
    parts = [str(p) for p in loc]
    # ninja prefixes the parameter source and the argument name: ("body", "payload", "lines", 0)
    if len(parts) >= 2 and parts[0] in {"body", "query", "path", "header", "form"}:
        parts = parts[2:] if len(parts) > 2 else parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    errors = [
        {
            "field": _field_path(err.get("loc", ())),
            "message": err.get("msg", "invalid"),
            "type": err.get("type", "invalid"),
        }
        for err in exc.errors
    ]
    first = errors[0]["field"] if errors else "body"
    return api.create_response(
        request,
        {"detail": f"invalid input at {first}", "code": "invalid", "errors": errors},
        status=422,
    )


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    body: dict = {"detail": exc.message, "code": exc.code}
    if exc.status_code == 422:
        field = exc.field or "body"
        body["errors"] = [{"field": field, "message": exc.message, "type": exc.code}]
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        413: "too_large",
        429: "throttled",
    }
    return api.create_response(
        request,
        {"detail": str(exc), "code": codes.get(exc.status_code, "error")},
        status=exc.status_code,
    )


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return api.create_response(request, {"detail": "not found", "code": "not_found"}, status=404)


meta = Router(tags=["meta"])


class PingOut(Schema):
    store: str
    scope: str


@meta.get("/ping", response={200: PingOut, **READ_ERRORS}, summary="Check a key")
def ping(request):
    """The cheapest authenticated call: which store the key belongs to and its scope."""
    return {"store": request.store.slug, "scope": request.auth.scope}


api.add_router("/", meta)


api.add_router("/customers", customers_router)
api.add_router("/products", catalog_router)
api.add_router("/orders", orders_router)
api.add_router("/shipments", tracking_router)
api.add_router("/webhook-endpoints", webhooks_router)
# Each app's router chooses its paths (/returns, /store-credit, /surveys, /reviews …).
api.add_router("/", returns_router)
api.add_router("/", feedback_router)
api.add_router("/", reviews_router)
