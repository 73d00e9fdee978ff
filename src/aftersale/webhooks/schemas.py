from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from aftersale.core.schemas import StrictSchema


class EndpointIn(StrictSchema):
    url: str = Field(..., max_length=500, description="https:// address of your receiver")
    event_types: list[str] = Field(..., min_length=1, description='e.g. ["order.*"] or ["*"]')
    description: str = Field("", max_length=200)


class EndpointPatchIn(StrictSchema):
    url: str | None = Field(None, max_length=500)
    event_types: list[str] | None = None
    description: str | None = Field(None, max_length=200)
    active: bool | None = None


class EndpointOut(Schema):
    id: str
    url: str
    description: str
    event_types: list[str]
    active: bool
    disabled_at: datetime | None
    disabled_reason: str
    failure_streak: int
    created_at: datetime


class EndpointWithSecretOut(EndpointOut):
    secret: str


class AttemptOut(Schema):
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str
    response_excerpt: str


class DeliveryOut(Schema):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    replay_of: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptOut]


class DeliveryPage(Schema):
    data: list[DeliveryOut]
    next_cursor: str | None


def endpoint_out(endpoint, *, with_secret: bool = False) -> dict:
    data = {
        "id": endpoint.public_id,
        **{
            k: getattr(endpoint, k)
            for k in (
                "url",
                "description",
                "event_types",
                "active",
                "disabled_at",
                "disabled_reason",
                "failure_streak",
                "created_at",
            )
        },
    }
    if with_secret:
        data["secret"] = endpoint.secret
    return data


def delivery_out(delivery) -> dict:
    return {
        "id": delivery.public_id,
        "event_id": delivery.event.public_id,
        "event_type": delivery.event.name,
        **{
            k: getattr(delivery, k)
            for k in (
                "status",
                "attempts",
                "next_attempt_at",
                "last_status_code",
                "created_at",
                "finished_at",
            )
        },
        "replay_of": delivery.replay_of.public_id if delivery.replay_of_id else None,
        "attempt_log": [
            {
                k: getattr(a, k)
                for k in ("attempted_at", "duration_ms", "status_code", "error", "response_excerpt")
            }
            for a in delivery.attempt_log.all()
        ],
    }
