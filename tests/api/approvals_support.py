"""Helpers for approvals tests: members with roles, a require_approval policy, a request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from corral.core.db import transaction
from corral.webhooks.models import WebhookEndpoint, WebhookMessage
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of


@asynccontextmanager
async def member(
    app: FastAPI, owner: ApiClient, email: str, role: str = "member"
) -> AsyncIterator[ApiClient]:
    """A signed-in person invited into the owner's organization with `role`."""
    response = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text
    async with asgi_client(app) as c:
        await c.register(email, invitation_token=response.json()["token"])
        yield c


async def approval_policy(
    client: ApiClient, *, applies_to: str = "tool.transfer", **config: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/policies",
        json={
            "name": f"approve {applies_to}",
            "expression": "true",
            "action": "require_approval",
            "action_config": {"message": "a person must approve transfers", **config},
            "applies_to": [applies_to],
        },
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def request_approval(
    client: ApiClient, name: str = "tool.transfer", **arguments: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/approvals",
        json={"name": name, "arguments": arguments or {"amount": 100}, "agent": "payer"},
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def subscribe_webhooks(app: FastAPI, client: ApiClient) -> None:
    """An endpoint wanting every event, so `emit` records its messages."""
    async with transaction(container_of(app).sessions) as session:
        session.add(
            WebhookEndpoint(
                org_id=client.org_id,
                application_id=client.app_id,
                url="https://hooks.example.com/corral",
                event_types=[],
                secret_ciphertext="unused",
            )
        )


async def webhook_events(app: FastAPI, event_type: str) -> list[dict[str, Any]]:
    async with container_of(app).sessions() as session:
        rows = await session.scalars(
            select(WebhookMessage)
            .where(WebhookMessage.event_type == event_type)
            .order_by(WebhookMessage.created_at)
        )
        return [row.payload["data"] for row in rows]
