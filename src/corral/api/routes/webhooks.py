"""Webhook endpoints of the current application, their deliveries, replay and secret rotation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.container import Container
from corral.core.crypto import EncryptionKeyring
from corral.core.pagination import Page
from corral.webhooks import service
from corral.webhooks.models import WebhookDelivery, WebhookEndpoint
from corral.webhooks.schemas import (
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    EndpointCreate,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    SecretRotation,
)

router = APIRouter(tags=["webhooks"], responses=ERRORS)

EndpointId = Annotated[str, Path(max_length=64)]
DeliveryId = Annotated[str, Path(max_length=64)]


def _policy(container: Container) -> service.WebhookPolicy:
    return service.WebhookPolicy(
        production=container.settings.is_production, settings=container.settings.webhooks
    )


def read_endpoint(endpoint: WebhookEndpoint, keyring: EncryptionKeyring) -> EndpointRead:
    return EndpointRead(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=endpoint.event_types,
        enabled=endpoint.enabled,
        secret_key_id=keyring.kid_of(endpoint.secret_ciphertext),
        previous_secret_expires_at=endpoint.previous_secret_expires_at
        if endpoint.previous_secret_ciphertext is not None
        else None,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _with_secret(
    endpoint: WebhookEndpoint, secret: str, keyring: EncryptionKeyring
) -> EndpointWithSecret:
    return EndpointWithSecret(**read_endpoint(endpoint, keyring).model_dump(), secret=secret)


def read_delivery(delivery: WebhookDelivery, event_type: str) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        message_id=delivery.message_id,
        event_type=event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_latency_ms=delivery.last_latency_ms,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
    )


@router.get("/api/webhooks", response_model=Page[EndpointRead])
async def list_webhooks(
    scope: AppScopeDep, session: SessionDep, container: ContainerDep, page: PageDep
) -> Page[EndpointRead]:
    """The application's endpoints, newest first; secrets are never listed."""
    rows, cursor = await service.list_page(session, scope, cursor=page.cursor, limit=page.limit)
    return Page[EndpointRead](
        data=[read_endpoint(r, container.keyring) for r in rows], next_cursor=cursor
    )


@router.post(
    "/api/webhooks", status_code=status.HTTP_201_CREATED, response_model=EndpointWithSecret
)
async def create_webhook(
    body: EndpointCreate, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> EndpointWithSecret:
    """Register an endpoint; the response holds its `whsec_` secret, shown only this once."""
    endpoint, secret = await service.create(
        session, scope, container.keyring, _policy(container), body
    )
    return _with_secret(endpoint, secret, container.keyring)


@router.get("/api/webhooks/{endpoint_id}", response_model=EndpointRead)
async def get_webhook(
    endpoint_id: EndpointId, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> EndpointRead:
    return read_endpoint(await service.get(session, scope, endpoint_id), container.keyring)


@router.patch("/api/webhooks/{endpoint_id}", response_model=EndpointRead)
async def update_webhook(
    endpoint_id: EndpointId,
    body: EndpointUpdate,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
) -> EndpointRead:
    """Change the URL, description, event filter or switch the endpoint on or off."""
    endpoint = await service.update(session, scope, _policy(container), endpoint_id, body)
    return read_endpoint(endpoint, container.keyring)


@router.delete("/api/webhooks/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(endpoint_id: EndpointId, scope: AppScopeDep, session: SessionDep) -> None:
    """Delete the endpoint with its pending deliveries and history."""
    await service.delete(session, scope, endpoint_id)


@router.post("/api/webhooks/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_webhook_secret(
    endpoint_id: EndpointId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    body: SecretRotation | None = None,
) -> EndpointWithSecret:
    """A new secret, shown once; the previous one also signs until the overlap ends."""
    endpoint, secret = await service.rotate_secret(
        session,
        scope,
        container.keyring,
        _policy(container),
        endpoint_id,
        overlap_seconds=None if body is None else body.overlap_seconds,
    )
    return _with_secret(endpoint, secret, container.keyring)


@router.post(
    "/api/webhooks/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
)
async def send_test_event(
    endpoint_id: EndpointId, scope: AppScopeDep, session: SessionDep
) -> DeliveryRead:
    """Queue a signed `webhook.test` event for this endpoint (whatever its filter)."""
    delivery, message = await service.send_test(session, scope, endpoint_id)
    return read_delivery(delivery, message.event_type)


@router.get("/api/webhooks/{endpoint_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    endpoint_id: EndpointId,
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    delivery_status: Annotated[
        Literal["pending", "succeeded", "dead"] | None,
        Query(alias="status", description="Only deliveries in this state."),
    ] = None,
) -> Page[DeliveryRead]:
    """The endpoint's deliveries, newest first, with their last attempt's outcome."""
    rows, cursor = await service.deliveries_page(
        session,
        scope,
        endpoint_id,
        status=delivery_status,
        cursor=page.cursor,
        limit=page.limit,
    )
    return Page[DeliveryRead](
        data=[read_delivery(d, event_type) for d, event_type in rows], next_cursor=cursor
    )


@router.get("/api/webhooks/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(
    endpoint_id: EndpointId, delivery_id: DeliveryId, scope: AppScopeDep, session: SessionDep
) -> DeliveryDetail:
    """One delivery with the message sent and every attempt (status, latency, error)."""
    view = await service.get_delivery(session, scope, endpoint_id, delivery_id)
    return DeliveryDetail(
        **read_delivery(view.delivery, view.message.event_type).model_dump(),
        payload=view.message.payload,
        history=[
            AttemptRead(
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
            )
            for a in view.history
        ],
    )


@router.post(
    "/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses={409: problem_response("The delivery is still being attempted.")},
)
async def replay_delivery(
    endpoint_id: EndpointId, delivery_id: DeliveryId, scope: AppScopeDep, session: SessionDep
) -> DeliveryRead:
    """Send a succeeded or dead delivery's message again (same `webhook-id`)."""
    copy, message = await service.replay(session, scope, endpoint_id, delivery_id)
    return read_delivery(copy, message.event_type)
