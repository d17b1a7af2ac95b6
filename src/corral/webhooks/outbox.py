"""Recording an event for webhooks inside the transaction of the change it reports.

Callers (runs, governance, approvals, budgets, halts) call `emit` with their own session: the
message and one pending delivery per subscribed endpoint commit or roll back with the change,
so an event is never announced for a change that did not happen, nor lost for one that did.
The delivery loop sends them afterwards.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import utcnow
from corral.core.ids import new_id
from corral.webhooks.event_types import WebhookEventType
from corral.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage


def subscribes(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


async def emit(
    session: AsyncSession,
    *,
    org_id: str,
    application_id: str,
    event_type: WebhookEventType,
    data: dict[str, Any],
) -> WebhookMessage | None:
    """Queue `event_type` for the application's endpoints; None when no endpoint wants it."""
    endpoints = (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.application_id == application_id,
                WebhookEndpoint.enabled.is_(True),
            )
        )
    ).all()
    wanted = [endpoint for endpoint in endpoints if subscribes(endpoint, event_type)]
    if not wanted:
        return None
    now = utcnow()
    message = WebhookMessage(
        id=new_id("msg"),
        org_id=org_id,
        application_id=application_id,
        event_type=event_type,
        payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
        created_at=now,
    )
    session.add(message)
    # The deliveries reference the message, and no ORM relationship orders the inserts.
    await session.flush()
    for endpoint in wanted:
        session.add(
            WebhookDelivery(
                org_id=org_id,
                application_id=application_id,
                endpoint_id=endpoint.id,
                message_id=message.id,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return message
