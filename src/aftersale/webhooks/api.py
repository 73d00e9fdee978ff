from __future__ import annotations

from ninja import Query, Router, Schema, Status
from pydantic import Field

from aftersale.core.auth import require_write
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS
from aftersale.core.services import NotFound
from aftersale.webhooks.models import WebhookDelivery, WebhookEndpoint
from aftersale.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointIn,
    EndpointOut,
    EndpointPatchIn,
    EndpointWithSecretOut,
    delivery_out,
    endpoint_out,
)
from aftersale.webhooks.services import (
    delivery_replay,
    endpoint_create,
    endpoint_enable,
    endpoint_get,
    endpoint_rotate_secret,
    endpoint_send_test,
    endpoint_update,
)

router = Router(tags=["webhook endpoints"])


class DeliveryFilters(Schema):
    status: WebhookDelivery.Status | None = None
    cursor: str | None = Field(None, description="the next_cursor of the previous page")
    limit: int = Field(50, ge=1, le=200)


def _deliveries(endpoint: WebhookEndpoint):
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event", "replay_of")
        .prefetch_related("attempt_log")
        .order_by("-public_id")
    )


@router.post(
    "", response={201: EndpointWithSecretOut, **WRITE_ERRORS}, summary="Subscribe an endpoint"
)
def create_endpoint(request, payload: EndpointIn):
    """The answer carries the signing secret; keep it to verify `Aftersale-Signature`."""
    require_write(request)
    endpoint = endpoint_create(
        store=request.store,
        url=payload.url,
        event_types=payload.event_types,
        description=payload.description,
    )
    return Status(201, endpoint_out(endpoint, with_secret=True))


@router.get("", response={200: list[EndpointOut], **READ_ERRORS}, summary="List endpoints")
def list_endpoints(request):
    return [endpoint_out(e) for e in WebhookEndpoint.objects.filter(store=request.store)]


@router.get("/{ref}", response={200: EndpointOut, **READ_ERRORS}, summary="Get an endpoint")
def get_endpoint(request, ref: str):
    return endpoint_out(endpoint_get(store=request.store, ref=ref))


@router.patch("/{ref}", response={200: EndpointOut, **WRITE_ERRORS}, summary="Change an endpoint")
def patch_endpoint(request, ref: str, payload: EndpointPatchIn):
    """`active: true` re-enables a disabled endpoint and sends what waited meanwhile."""
    require_write(request)
    endpoint = endpoint_get(store=request.store, ref=ref)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    return endpoint_out(endpoint_update(store=request.store, endpoint=endpoint, changes=changes))


@router.delete("/{ref}", response={204: None, **WRITE_ERRORS}, summary="Delete an endpoint")
def delete_endpoint(request, ref: str):
    require_write(request)
    endpoint_get(store=request.store, ref=ref).delete()
    return Status(204, None)


@router.post(
    "/{ref}/rotate-secret",
    response={200: EndpointWithSecretOut, **WRITE_ERRORS},
    summary="Replace the signing secret",
)
def rotate_secret(request, ref: str):
    require_write(request)
    endpoint = endpoint_rotate_secret(endpoint=endpoint_get(store=request.store, ref=ref))
    return endpoint_out(endpoint, with_secret=True)


@router.post(
    "/{ref}/enable",
    response={200: EndpointOut, **WRITE_ERRORS},
    summary="Enable a disabled endpoint",
)
def enable_endpoint(request, ref: str):
    require_write(request)
    endpoint = endpoint_get(store=request.store, ref=ref)
    endpoint_enable(store=request.store, endpoint=endpoint)
    return endpoint_out(endpoint)


@router.post(
    "/{ref}/test", response={202: DeliveryOut, **WRITE_ERRORS}, summary="Send a test event"
)
def send_test(request, ref: str):
    require_write(request)
    endpoint = endpoint_get(store=request.store, ref=ref)
    delivery = endpoint_send_test(store=request.store, endpoint=endpoint)
    return Status(202, delivery_out(_deliveries(endpoint).get(pk=delivery.pk)))


@router.get(
    "/{ref}/deliveries",
    response={200: DeliveryPage, **READ_ERRORS},
    summary="List an endpoint's deliveries",
)
def list_deliveries(request, ref: str, filters: Query[DeliveryFilters]):
    """Newest first, each with its attempts."""
    endpoint = endpoint_get(store=request.store, ref=ref)
    qs = _deliveries(endpoint)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.cursor:
        qs = qs.filter(public_id__lt=filters.cursor)
    rows = list(qs[: filters.limit + 1])
    next_cursor = rows[filters.limit - 1].public_id if len(rows) > filters.limit else None
    return {"data": [delivery_out(d) for d in rows[: filters.limit]], "next_cursor": next_cursor}


@router.post(
    "/{ref}/deliveries/{delivery_id}/replay",
    response={201: DeliveryOut, **WRITE_ERRORS},
    summary="Send a delivery again",
)
def replay_delivery(request, ref: str, delivery_id: str):
    require_write(request)
    endpoint = endpoint_get(store=request.store, ref=ref)
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint, public_id=delivery_id).first()
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id!r} for this endpoint")
    replay = delivery_replay(store=request.store, delivery=delivery)
    return Status(201, delivery_out(_deliveries(endpoint).get(pk=replay.pk)))
