"""Hosted runs end to end: the HTTP API, the embedded worker, a real bubblewrap sandbox running
the real runtime, its sidecar, the policy engine, a local tool server and a local LLM server."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from corral.api.app import create_app
from corral.run_stack import RunStack
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.support.openai_server import LLMServer, Reply, serve_llm
from tests.traces.support import container_of

pytestmark = pytest.mark.skipif(
    os.environ.get("CI") != "true" and not Path("/usr/bin/bwrap").exists(),
    reason="bubblewrap is not installed",
)

OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"queue": {"type": "string"}},
    "required": ["queue"],
    "additionalProperties": False,
}


def agent(turns: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "name": "triage",
        "version": "1.0.0",
        "input_schema": {"type": "object", "properties": {"ticket": {"type": "string"}}},
        "output_schema": OUTPUT_SCHEMA,
        "model": {"provider": "scripted", "turns": turns or [{"output": {"queue": "billing"}}]},
        "timeout_seconds": 60,
        **changes,
    }


@dataclass
class ToolServer:
    """A local HTTP service standing in for the outside API a tool calls."""

    hits: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def tool_server() -> Iterator[ToolServer]:
    state = ToolServer()

    async def lookup(request: Request) -> JSONResponse:
        with state.lock:
            state.hits.append(
                {"query": dict(request.query_params), "auth": request.headers.get("authorization")}
            )
        return JSONResponse({"customer": "acme", "plan": "gold"})

    async def slow(_: Request) -> JSONResponse:
        # Longer than any run's timeout in these tests: the run ends while the call waits.
        await asyncio.sleep(20)
        return JSONResponse({})

    routes = [Route("/lookup", lookup), Route("/slow", slow)]
    with ThreadedServer(Starlette(routes=routes)) as server:
        state.base_url = server.base_url
        yield state


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve_llm() as server:
        yield server


@asynccontextmanager
async def corral(
    tmp_path: Path, database_url: str, llm: LLMServer, *, pool: int = 0
) -> AsyncIterator[tuple[FastAPI, ApiClient]]:
    providers = [
        {
            "id": "local",
            "label": "Local test LLM",
            "api": "openai-chat",
            "base_url": llm.base_url,
            "api_key": "sk-local-test-key-0123456789",
            "models": ["gpt-4o-mini"],
        }
    ]
    settings = make_settings(
        tmp_path,
        database_url,
        runs={"worker_in_server": True, "sidecar_pool_size": pool, "worker_concurrency": 4},
        tools={"allow_private_targets": True},
        system_provider_keys=providers,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        await c.register("owner@example.com", org="Acme")
        yield application, c


async def finished(client: ApiClient, run_id: str) -> dict[str, Any]:
    for _ in range(12):
        response = await client.get(f"/api/runs/{run_id}?wait=10")
        data: dict[str, Any] = response.json()
        if data["status"] not in ("queued", "running"):
            return data
    raise AssertionError(f"run {run_id} did not end: {data}")


async def run_inline(
    client: ApiClient, manifest: dict[str, Any], run_input: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/api/runs",
        json={
            "inline": {"manifest": manifest, "prompt": "Route the ticket."},
            "input": run_input or {},
        },
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the slower cases need not run on both databases."""
    path = tmp_path / "corral.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> set[int]:
    """The process and every descendant alive now."""
    tree, found, todo = _children(), set(), [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            found.add(pid)
        todo.extend(tree.get(pid, []))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}/stat").exists() and not _zombie(pid)}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


async def sandbox_processes_while_running(app: FastAPI, client: ApiClient, run_id: str) -> set[int]:
    """Once the run executes, its sandbox's processes (bwrap and everything under it)."""
    stack: RunStack = app.state.run_stack
    for _ in range(400):
        pids = stack.executor.known_pids()
        if pids:
            return set().union(*(process_tree(pid) for pid in pids))
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never started its sandbox")


async def test_a_trivial_agent_runs_end_to_end(
    tmp_path: Path, database_url: str, llm: LLMServer
) -> None:
    async with corral(tmp_path, database_url, llm) as (app, owner):
        created = await owner.post(
            "/api/agents", json={"manifest": agent(), "prompt": "Route the ticket."}
        )
        assert created.status_code == 201, created.text
        queued = await owner.post(
            "/api/runs", json={"agent": "triage", "input": {"ticket": "refund please"}}
        )
        assert queued.status_code == 201
        assert queued.json()["status"] == "queued"
        run = await finished(owner, queued.json()["id"])
        assert run["status"] == "succeeded", run
        assert run["output"] == {"queue": "billing"}
        assert run["error"] is None
        assert run["usage"]["model_calls"] == 1
        assert run["started_at"] is not None
        assert run["finished_at"] is not None
        logs = (await owner.get(f"/api/runs/{run['id']}/logs")).json()
        kinds = [e["kind"] for e in logs["data"]]
        statuses = [e["data"]["status"] for e in logs["data"] if e["kind"] == "status"]
        assert statuses == ["queued", "running", "succeeded"]
        assert "model_call" in kinds
        assert "output" in kinds
        await container_of(app).ingest.flush()
        trace = await owner.get(f"/api/traces/{run['trace_id']}")
        assert trace.status_code == 200, trace.text
        names = {span["name"] for span in trace.json()["spans"]}
        assert "invoke_agent triage" in names
        assert any(name.startswith("chat ") for name in names)


async def test_output_that_misses_the_schema_fails_the_run(
    tmp_path: Path, sqlite_url: str, llm: LLMServer
) -> None:
    async with corral(tmp_path, sqlite_url, llm) as (_, owner):
        run = await run_inline(owner, agent([{"output": {"queue": 7}}]))
        ended = await finished(owner, run["id"])
        assert ended["status"] == "failed"
        assert ended["error"]["code"] == "output_invalid"
        assert ended["error"]["details"]["errors"][0]["field"] == "output/queue"


async def test_a_blocked_tool_call_is_recorded_and_never_executed(
    tmp_path: Path, database_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, database_url, llm) as (_, owner):
        policy = await owner.post(
            "/api/policies",
            json={
                "name": "no lookups of acme",
                "expression": 'args.customer == "acme"',
                "action": "block",
                "action_config": {"message": "acme is off limits"},
                "applies_to": ["tool.lookup"],
            },
        )
        assert policy.status_code == 201, policy.text
        before = len(tool_server.hits)
        tools = [
            {
                "name": "lookup",
                "type": "http",
                "method": "GET",
                "url": f"{tool_server.base_url}/lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"customer": {"type": "string"}},
                },
            }
        ]
        turns: list[dict[str, Any]] = [
            {"tool_calls": [{"name": "lookup", "arguments": {"customer": "acme"}}]},
            {"output": {"queue": "blocked"}},
        ]
        run = await run_inline(owner, agent(turns, tools=tools))
        ended = await finished(owner, run["id"])
        assert ended["status"] == "succeeded", ended
        assert len(tool_server.hits) == before, "the blocked tool must never reach its server"
        logs = (await owner.get(f"/api/runs/{run['id']}/logs")).json()["data"]
        calls = [e["data"] for e in logs if e["kind"] == "tool_call"]
        assert calls[0]["status"] == "refused"
        assert calls[0]["decision"]["action"] == "block"
        decisions = (await owner.get("/api/decisions")).json()["data"]
        assert [d["action"] for d in decisions] == ["block"]
        assert decisions[0]["policy_id"] == policy.json()["id"]


async def test_an_allowed_tool_call_reaches_its_server(
    tmp_path: Path, sqlite_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, sqlite_url, llm) as (app, owner):
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
            {"tool_calls": [{"name": "lookup", "arguments": {"customer": "globex"}}]},
            {"output": {"queue": "gold"}},
        ]
        before = len(tool_server.hits)
        run = await run_inline(owner, agent(turns, tools=tools))
        ended = await finished(owner, run["id"])
        assert ended["status"] == "succeeded", ended
        assert tool_server.hits[before:] == [{"query": {"customer": "globex"}, "auth": None}]
        assert ended["usage"]["tool_calls"] == 1
        await container_of(app).ingest.flush()
        trace = (await owner.get(f"/api/traces/{ended['trace_id']}")).json()
        names = sorted(span["name"] for span in trace["spans"])
        assert names == ["chat scripted", "chat scripted", "invoke_agent triage", "tool.lookup"]


async def test_a_real_provider_is_called_with_its_key_and_metered(
    tmp_path: Path, database_url: str, llm: LLMServer
) -> None:
    llm.enqueue(Reply.of_tool_calls([("output", {"queue": "sales"})]))
    async with corral(tmp_path, database_url, llm) as (_, owner):
        manifest = agent(model={"provider": "local", "name": "gpt-4o-mini"})
        run = await run_inline(owner, manifest, {"ticket": "pricing"})
        ended = await finished(owner, run["id"])
        assert ended["status"] == "succeeded", ended
        assert ended["output"] == {"queue": "sales"}
        assert ended["usage"]["input_tokens"] == 11
        assert ended["usage"]["output_tokens"] == 7
        assert ended["cost_usd"] > 0
        request = llm.requests[-1]
        assert request.headers["authorization"] == "Bearer sk-local-test-key-0123456789"


def waiting_agent(tool_server: ToolServer, timeout_seconds: int) -> dict[str, Any]:
    """An agent whose first tool call waits on a server longer than the run may last."""
    tools = [{"name": "wait", "type": "http", "url": f"{tool_server.base_url}/slow"}]
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "wait", "arguments": {}}]},
        {"output": {"queue": "late"}},
    ]
    return agent(turns, tools=tools, timeout_seconds=timeout_seconds)


async def test_a_run_over_its_timeout_ends_timed_out_and_its_processes_are_gone(
    tmp_path: Path, sqlite_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, sqlite_url, llm) as (app, owner):
        run = await run_inline(owner, waiting_agent(tool_server, timeout_seconds=3))
        processes = await sandbox_processes_while_running(app, owner, run["id"])
        assert len(processes) >= 2, "bwrap and the runtime under it"
        ended = await finished(owner, run["id"])
        assert ended["status"] == "timed_out"
        assert ended["error"]["code"] == "timeout"
        assert alive(processes) == set()


async def test_cancel_ends_a_running_run_and_its_processes(
    tmp_path: Path, sqlite_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, sqlite_url, llm) as (app, owner):
        run = await run_inline(owner, waiting_agent(tool_server, timeout_seconds=60))
        processes = await sandbox_processes_while_running(app, owner, run["id"])
        cancelled = await owner.post(f"/api/runs/{run['id']}/cancel")
        assert cancelled.status_code == 200
        ended = await finished(owner, run["id"])
        assert ended["status"] == "cancelled"
        assert ended["error"]["code"] == "cancelled"
        assert alive(processes) == set()


async def test_a_halt_ends_a_running_run_and_its_processes(
    tmp_path: Path, sqlite_url: str, llm: LLMServer, tool_server: ToolServer
) -> None:
    async with corral(tmp_path, sqlite_url, llm) as (app, owner):
        run = await run_inline(owner, waiting_agent(tool_server, timeout_seconds=60))
        processes = await sandbox_processes_while_running(app, owner, run["id"])
        halted = await owner.post(
            "/api/halts", json={"scope": "run", "scope_value": run["id"], "reason": "runaway"}
        )
        assert halted.status_code == 201
        ended = await finished(owner, run["id"])
        assert ended["status"] == "failed"
        assert ended["error"]["code"] == "halted"
        assert alive(processes) == set()


async def test_a_run_takes_a_warm_sandbox_and_the_pool_refills(
    tmp_path: Path, sqlite_url: str, llm: LLMServer
) -> None:
    async with corral(tmp_path, sqlite_url, llm, pool=1) as (app, owner):
        stack: RunStack = app.state.run_stack
        await wait_for_warm_slots(stack, 1)
        run = await run_inline(owner, agent())
        ended = await finished(owner, run["id"])
        assert ended["status"] == "succeeded", ended
        assert ended["output"] == {"queue": "billing"}
        await wait_for_warm_slots(stack, 1)


async def wait_for_warm_slots(stack: RunStack, count: int) -> None:
    # A warm slot is ready once its runtime has imported everything, seconds on a busy machine.
    for _ in range(1200):
        if stack.pool.ready_count >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the warm pool never filled")
