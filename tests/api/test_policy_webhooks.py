"""`policy.blocked` and `policy.alert` webhooks, queued with the decision's evidence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from standardwebhooks import Webhook

from corral.core.settings import Settings
from corral.webhooks.models import WebhookMessage
from tests.api.test_decisions import decide, shell
from tests.api.test_policies import create
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.local_http import LocalServer, serving
from tests.traces.support import container_of


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, webhooks={"allow_private_targets": True})


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    with serving() as server:
        yield server


async def delivered(app: FastAPI, receiver: LocalServer, secret: str) -> list[dict[str, Any]]:
    await container_of(app).webhook_sender.deliver_due()
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]


async def test_a_block_and_an_alert_are_announced_once_each(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    endpoint = (await owner.post("/api/webhooks", json={"url": receiver.url("/")})).json()
    blocker = await create(owner)
    alerting = await create(
        owner, name="alert on curl", expression='args.command.contains("curl")', action="alert"
    )
    key = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=key["key"]) as agent:
        blocked = await decide(agent, shell("rm -rf /", **{"gen_ai.agent.name": "triage"}))
        alerted = await decide(agent, shell("curl example.com"))
        await decide(agent, shell("ls"))
    payloads = await delivered(app, receiver, endpoint["secret"])
    by_type = {p["type"]: p["data"] for p in payloads}
    assert sorted(p["type"] for p in payloads) == ["policy.alert", "policy.blocked"]
    assert by_type["policy.blocked"]["decision_id"] == blocked["decision_id"]
    assert by_type["policy.blocked"]["policy_id"] == blocker["id"]
    assert by_type["policy.blocked"]["agent"] == "triage"
    assert by_type["policy.blocked"]["call"] == "tool.shell"
    assert by_type["policy.alert"]["decision_id"] == alerted["decision_id"]
    assert by_type["policy.alert"]["alert_policy_ids"] == [alerting["id"]]


async def test_no_endpoint_means_no_message(app: FastAPI, owner: ApiClient) -> None:
    await create(owner)
    key = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=key["key"]) as agent:
        await decide(agent, shell("rm -rf /"))
    async with container_of(app).sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookMessage)) == 0
