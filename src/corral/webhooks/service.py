"""An application's webhook endpoints and their deliveries: manage, inspect, replay.

Secrets are generated here, sealed before they reach the session and returned exactly once (at
creation or rotation). Every change writes an audit event without the secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import EncryptionKeyring
from corral.core.errors import Conflict, NotFound
from corral.core.ids import is_well_formed, new_id
from corral.core.pagination import paginate
from corral.core.settings import WebhookSettings
from corral.identity.access import AppScope
from corral.webhooks import secret_store
from corral.webhooks.event_types import TEST_EVENT_TYPE
from corral.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from corral.webhooks.schemas import EndpointCreate, EndpointUpdate
from corral.webhooks.signing import new_secret
from corral.webhooks.urls import check_endpoint_url

ENDPOINT_PREFIX = "whk"
DELIVERY_PREFIX = "dlv"


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """What the tier allows for endpoints: https only in production, private targets or not."""

    production: bool
    settings: WebhookSettings

    def check_url(self, url: str) -> str:
        return check_endpoint_url(
            url,
            production=self.production,
            allow_private=self.settings.allow_private_targets,
        )


def endpoint_not_found() -> NotFound:
    return NotFound("webhook endpoint", code="webhook_not_found")


def delivery_not_found() -> NotFound:
    return NotFound("webhook delivery", code="webhook_delivery_not_found")


def _audit(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    endpoint: WebhookEndpoint,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        details={"url": endpoint.url, **(details or {})},
    )


async def create(
    session: AsyncSession,
    scope: AppScope,
    keyring: EncryptionKeyring,
    policy: WebhookPolicy,
    body: EndpointCreate,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (the only time the secret leaves this process)."""
    scope.require("webhooks:write")
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id(ENDPOINT_PREFIX),
        org_id=scope.org_id,
        application_id=scope.application_id,
        url=policy.check_url(body.url),
        description=body.description,
        event_types=list(body.event_types),
        enabled=body.enabled,
        created_at=now,
        updated_at=now,
    )
    secret = new_secret()
    endpoint.secret_ciphertext = secret_store.seal(keyring, endpoint, secret)
    session.add(endpoint)
    _audit(
        session,
        scope,
        "webhook.created",
        endpoint,
        {"event_types": endpoint.event_types, "enabled": endpoint.enabled},
    )
    return endpoint, secret


async def get(
    session: AsyncSession,
    scope: AppScope,
    endpoint_id: str,
    *,
    for_update: bool = False,
    permission: str = "webhooks:read",
) -> WebhookEndpoint:
    scope.require(permission)
    if not is_well_formed(endpoint_id, ENDPOINT_PREFIX):
        raise endpoint_not_found()
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.application_id == scope.application_id,
    )
    if for_update:
        query = query.with_for_update()
    endpoint: WebhookEndpoint | None = await session.scalar(query)
    if endpoint is None:
        raise endpoint_not_found()
    return endpoint


async def list_page(
    session: AsyncSession, scope: AppScope, *, cursor: str | None, limit: int
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    scope.require("webhooks:read")
    query = select(WebhookEndpoint).where(WebhookEndpoint.application_id == scope.application_id)
    return await paginate(session, query, WebhookEndpoint.id, cursor=cursor, limit=limit)


async def update(
    session: AsyncSession,
    scope: AppScope,
    policy: WebhookPolicy,
    endpoint_id: str,
    body: EndpointUpdate,
) -> WebhookEndpoint:
    endpoint = await get(session, scope, endpoint_id, for_update=True, permission="webhooks:write")
    if body.url is not None:
        endpoint.url = policy.check_url(body.url)
    if body.description is not None:
        endpoint.description = body.description
    if body.event_types is not None:
        endpoint.event_types = list(body.event_types)
    if body.enabled is not None:
        endpoint.enabled = body.enabled
    endpoint.updated_at = utcnow()
    _audit(session, scope, "webhook.updated", endpoint, {"changed": sorted(body.model_fields_set)})
    return endpoint


async def delete(session: AsyncSession, scope: AppScope, endpoint_id: str) -> None:
    endpoint = await get(session, scope, endpoint_id, for_update=True, permission="webhooks:write")
    _audit(session, scope, "webhook.deleted", endpoint)
    await session.delete(endpoint)


async def rotate_secret(
    session: AsyncSession,
    scope: AppScope,
    keyring: EncryptionKeyring,
    policy: WebhookPolicy,
    endpoint_id: str,
    *,
    overlap_seconds: int | None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing beside it for the overlap window."""
    endpoint = await get(session, scope, endpoint_id, for_update=True, permission="webhooks:write")
    overlap = policy.settings.secret_overlap_seconds if overlap_seconds is None else overlap_seconds
    now = utcnow()
    if overlap > 0:
        endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
        endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap)
    else:
        endpoint.previous_secret_ciphertext = None
        endpoint.previous_secret_expires_at = None
    secret = new_secret()
    endpoint.secret_ciphertext = secret_store.seal(keyring, endpoint, secret)
    endpoint.updated_at = now
    _audit(session, scope, "webhook.secret_rotated", endpoint, {"overlap_seconds": overlap})
    return endpoint, secret


async def deliveries_page(
    session: AsyncSession,
    scope: AppScope,
    endpoint_id: str,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[tuple[WebhookDelivery, str]], str | None]:
    """The endpoint's deliveries, newest first, each with its event type."""
    endpoint = await get(session, scope, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows, next_cursor = await paginate(
        session, query, WebhookDelivery.id, cursor=cursor, limit=limit
    )
    found = await session.execute(
        select(WebhookMessage.id, WebhookMessage.event_type).where(
            WebhookMessage.id.in_({row.message_id for row in rows})
        )
    )
    types: dict[str, str] = {row[0]: row[1] for row in found}
    return [(row, types[row.message_id]) for row in rows], next_cursor


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: WebhookDelivery
    message: WebhookMessage
    history: Sequence[WebhookAttempt]


async def _delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str
) -> tuple[WebhookDelivery, WebhookMessage]:
    if not is_well_formed(delivery_id, DELIVERY_PREFIX):
        raise delivery_not_found()
    row = (
        await session.execute(
            select(WebhookDelivery, WebhookMessage)
            .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
        )
    ).first()
    if row is None:
        raise delivery_not_found()
    return row


async def get_delivery(
    session: AsyncSession, scope: AppScope, endpoint_id: str, delivery_id: str
) -> DeliveryView:
    endpoint = await get(session, scope, endpoint_id)
    delivery, message = await _delivery(session, endpoint, delivery_id)
    history = (
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
    ).all()
    return DeliveryView(delivery, message, history)


async def replay(
    session: AsyncSession, scope: AppScope, endpoint_id: str, delivery_id: str
) -> tuple[WebhookDelivery, WebhookMessage]:
    """Send the delivery's message again, as a new delivery with the same `webhook-id`.

    Receivers that deduplicate on `webhook-id` see the same message; the original delivery and
    its history stay as they were.
    """
    endpoint = await get(session, scope, endpoint_id, permission="webhooks:write")
    original, message = await _delivery(session, endpoint, delivery_id)
    if original.status == "pending":
        raise Conflict(
            "the delivery is still being attempted; replay it once it succeeded or died",
            code="webhook_delivery_pending",
        )
    now = utcnow()
    copy = WebhookDelivery(
        id=new_id(DELIVERY_PREFIX),
        org_id=original.org_id,
        application_id=original.application_id,
        endpoint_id=original.endpoint_id,
        message_id=original.message_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(copy)
    audit.record_in_application(
        session,
        scope,
        "webhook.delivery_replayed",
        target_type="webhook_delivery",
        target_id=copy.id,
        details={"endpoint_id": endpoint.id, "replay_of": original.id},
    )
    return copy, message


async def send_test(
    session: AsyncSession, scope: AppScope, endpoint_id: str
) -> tuple[WebhookDelivery, WebhookMessage]:
    """Queue a `webhook.test` message for this endpoint only, to try a receiver out."""
    endpoint = await get(session, scope, endpoint_id, permission="webhooks:write")
    now = utcnow()
    message = WebhookMessage(
        id=new_id("msg"),
        org_id=endpoint.org_id,
        application_id=endpoint.application_id,
        event_type=TEST_EVENT_TYPE,
        payload={
            "type": TEST_EVENT_TYPE,
            "timestamp": now.isoformat(),
            "data": {"endpoint_id": endpoint.id},
        },
        created_at=now,
    )
    session.add(message)
    await session.flush()
    delivery = WebhookDelivery(
        id=new_id(DELIVERY_PREFIX),
        org_id=endpoint.org_id,
        application_id=endpoint.application_id,
        endpoint_id=endpoint.id,
        message_id=message.id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery, message
