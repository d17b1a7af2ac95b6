"""The server's approval gate in the tool gateway: the call is held as the run, reported as
`approval.waiting`, and an expired request follows the policy's `on_timeout`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from corral.runs.sidecar.tool_approvals import ServerApprovalGate
from tests.clients import ApiClient
from tests.runs.sidecar.test_tool_gateway_support import (
    Harness,
    create_policy,
    make_run,
    open_harness,
)
from tests.traces.support import container_of


@pytest.fixture
async def tools(app: FastAPI) -> AsyncIterator[Harness]:
    container = container_of(app)
    gate = ServerApprovalGate(
        sessions=container.sessions,
        signals=container.approval_signals,
        redactor=container.redactor,
    )
    async with open_harness(app, approvals=gate) as harness:
        yield harness


async def queued_run(client: ApiClient) -> str:
    """A run row for the approval to point at (it stays queued: no worker runs here)."""
    model = {"provider": "scripted", "turns": [{"text": "done"}]}
    manifest = {"name": "helper", "version": "1.0.0", "model": model}
    response = await client.post(
        "/api/runs", json={"inline": {"manifest": manifest, "prompt": "p"}, "input": {}}
    )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def events(tools: Harness, kind: str) -> list[dict[str, Any]]:
    return [data for event_kind, data in tools.sink.events if event_kind == kind]


@pytest.mark.parametrize("on_timeout", ["deny", "allow"])
async def test_an_expired_request_follows_on_timeout(
    owner: ApiClient, tools: Harness, on_timeout: str
) -> None:
    policy = await create_policy(
        owner,
        name="approve lookups",
        action="require_approval",
        applies_to=["tool.lookup"],
        # Expires while the call waits: the wait is bounded by the request's expiry.
        action_config={"timeout_seconds": 0.3, "on_timeout": on_timeout},
    )
    run_id = await queued_run(owner)
    run = make_run(owner, [{"name": "lookup", "url": tools.server.url("/lookup")}], run_id=run_id)
    outcome = await tools.call(run, "lookup", {"q": "x", "password": "hunter2hunter2"})

    [waiting] = events(tools, "approval.waiting")
    [resolved] = events(tools, "approval.resolved")
    assert waiting["approval_id"] == resolved["approval_id"]
    assert (waiting["run_id"], waiting["policy_id"], waiting["tool"]) == (
        run_id,
        policy["id"],
        "lookup",
    )
    assert resolved["status"] == "expired"
    if on_timeout == "allow":
        assert outcome.status == "ok"
        assert len(tools.server.received) == 1
    else:
        assert (outcome.status, outcome.result) == ("refused", {"code": "approval_expired"})
        assert tools.server.received == []
    shown = (await owner.get(f"/api/approvals/{waiting['approval_id']}")).json()
    assert shown["arguments"] == {"q": "x", "password": "[REDACTED]"}
    assert shown["requested_by"] == {"type": "run", "id": run_id}
