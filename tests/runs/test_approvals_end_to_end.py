"""A hosted run's tool call held for approval, end to end: the run (real bubblewrap sandbox and
runtime) reports `approval.waiting`, a second person answers through the HTTP API, and the tool
runs (approve) or the model reads the refusal (deny)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.runs.test_end_to_end import (
    ToolServer,
    agent,
    corral,
    finished,
    llm,
    pytestmark,
    run_inline,
    tool_server,
)
from tests.support.openai_server import LLMServer
from tests.traces.support import container_of

__all__ = ["llm", "pytestmark", "tool_server"]


def lookup_agent(tool_server: ToolServer) -> dict[str, Any]:
    tools = [
        {
            "name": "lookup",
            "type": "http",
            "method": "GET",
            "url": f"{tool_server.base_url}/lookup",
            "parameters": {"type": "object", "properties": {"customer": {"type": "string"}}},
        }
    ]
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "lookup", "arguments": {"customer": "initech"}}]},
        {"output": {"queue": "done"}},
    ]
    return agent(turns, tools=tools)


async def run_events(client: ApiClient, run_id: str) -> list[dict[str, Any]]:
    logs = (await client.get(f"/api/runs/{run_id}/logs", params={"limit": 500})).json()
    events: list[dict[str, Any]] = logs["data"]
    return events


async def held_approval(app: FastAPI, client: ApiClient, run_id: str) -> dict[str, Any]:
    """The run's approval once the run reports it waits for it (woken by the run's events)."""
    signals = container_of(app).run_signals
    for _ in range(120):
        waiting = [e for e in await run_events(client, run_id) if e["kind"] == "approval.waiting"]
        if waiting:
            approval_id = waiting[0]["data"]["approval_id"]
            found: dict[str, Any] = (await client.get(f"/api/approvals/{approval_id}")).json()
            return found
        await signals.wait_changed(run_id, 1.0)
    raise AssertionError("the run never waited for an approval")


async def test_a_held_tool_call_runs_once_a_second_person_approves(
    tmp_path: Path, database_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, database_url, llm) as (app, owner):
        policy = await owner.post(
            "/api/policies",
            json={
                "name": "approve lookups",
                "expression": "true",
                "action": "require_approval",
                "action_config": {"message": "a person checks lookups", "timeout_seconds": 120},
                "applies_to": ["tool.lookup"],
            },
        )
        assert policy.status_code == 201, policy.text
        before = len(tool_server.hits)
        run = await run_inline(owner, lookup_agent(tool_server))
        approval = await held_approval(app, owner, run["id"])
        assert approval["status"] == "pending"
        assert (approval["run_id"], approval["tool_name"]) == (run["id"], "lookup")
        assert approval["requested_by"] == {"type": "run", "id": run["id"]}
        assert approval["arguments"] == {"customer": "initech"}
        assert len(tool_server.hits) == before, "the tool waits for its approval"

        async with member(app, owner, "ada@example.com") as ada:
            approved = await ada.post(f"/api/approvals/{approval['id']}/approve")
            assert approved.status_code == 200, approved.text
            assert approved.json()["status"] == "approved"

        ended = await finished(owner, run["id"])
        assert ended["status"] == "succeeded", ended
        assert tool_server.hits[before:] == [{"query": {"customer": "initech"}, "auth": None}]
        events = await run_events(owner, run["id"])
        kinds = [e["kind"] for e in events]
        assert kinds.index("approval.waiting") < kinds.index("approval.resolved")
        assert kinds.index("approval.resolved") < kinds.index("tool_call")
        [call] = [e["data"] for e in events if e["kind"] == "tool_call"]
        assert (call["status"], call["decision"]["action"]) == ("ok", "require_approval")


async def test_a_denied_tool_call_is_refused_with_the_comment(
    tmp_path: Path, database_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, database_url, llm) as (app, owner):
        policy = await owner.post(
            "/api/policies",
            json={
                "name": "approve lookups",
                "expression": "true",
                "action": "require_approval",
                "applies_to": ["tool.lookup"],
            },
        )
        assert policy.status_code == 201, policy.text
        before = len(tool_server.hits)
        run = await run_inline(owner, lookup_agent(tool_server))
        approval = await held_approval(app, owner, run["id"])
        async with member(app, owner, "ada@example.com") as ada:
            denied = await ada.post(
                f"/api/approvals/{approval['id']}/deny", json={"comment": "not initech"}
            )
            assert denied.json()["status"] == "denied"

        ended = await finished(owner, run["id"])
        assert ended["status"] == "succeeded", ended
        assert len(tool_server.hits) == before, "a denied tool never reaches its server"
        events = await run_events(owner, run["id"])
        [call] = [e["data"] for e in events if e["kind"] == "tool_call"]
        assert (call["status"], call["code"]) == ("refused", "approval_denied")
        assert call["error"] == "ada@example.com denied this call: not initech"
