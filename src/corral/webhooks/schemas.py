"""Request and response bodies of the webhooks API. A secret is shown once, at creation or
rotation, and never again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from corral.core.schemas import RequestBody
from corral.webhooks.event_types import WebhookEventType

EndpointUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="Where events are POSTed; https (plain http only outside production).",
    ),
]
EventTypes = Annotated[
    list[WebhookEventType],
    Field(max_length=64, description="The event types sent; empty (the default) means all."),
]


def _unique(values: list[WebhookEventType] | None) -> list[WebhookEventType] | None:
    return None if values is None else list(dict.fromkeys(values))


class EndpointCreate(RequestBody):
    url: EndpointUrl
    description: str = Field("", max_length=500)
    event_types: EventTypes = Field(default_factory=list)
    enabled: bool = True

    _event_types = field_validator("event_types")(_unique)


class EndpointUpdate(RequestBody):
    url: EndpointUrl | None = None
    description: str | None = Field(None, max_length=500)
    event_types: EventTypes | None = None
    enabled: bool | None = None

    _event_types = field_validator("event_types")(_unique)


class SecretRotation(RequestBody):
    overlap_seconds: int | None = Field(
        None,
        ge=0,
        le=30 * 86400,
        description="How long the previous secret keeps signing beside the new one "
        "(CORRAL_WEBHOOKS_SECRET_OVERLAP_SECONDS when absent; 0 retires it at once).",
    )


class EndpointRead(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    secret_key_id: str = Field(description="The CORRAL_ENCRYPTION_KEYS key the secret is under.")
    previous_secret_expires_at: datetime | None = Field(
        None, description="Until then the previous secret signs too (after a rotation)."
    )
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointRead):
    secret: str = Field(description="`whsec_…`: shown only in this response, store it now.")


class AttemptRead(BaseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryRead(BaseModel):
    id: str
    endpoint_id: str
    message_id: str = Field(description="The `webhook-id` header: receivers deduplicate on it.")
    event_type: str
    status: str = Field(description="`pending`, `succeeded` or `dead` (attempts exhausted).")
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    created_at: datetime


class DeliveryDetail(DeliveryRead):
    payload: dict[str, Any]
    history: list[AttemptRead]
