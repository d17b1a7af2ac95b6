"""A halt reaches hosted runs: a running run in scope ends `failed` with code `halted`, one
out of scope goes on, and a `paused` scope lets running runs finish.

The fake sandboxes end with no output, so a run that was not halted ends `runtime_exited`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from corral.api.app import create_app
from corral.run_stack import build_run_stack
from corral.runs.sandboxes.fake import FakeSandboxAdapter, FakeSandboxContext
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.runs.test_executor import finished
from tests.traces.support import container_of


def manifest(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0.0",
        "model": {"provider": "scripted", "turns": [{"output": {}}]},
    }


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(tmp_path, database_url))
    async with application.router.lifespan_context(application):
        yield application


class Sandboxes:
    """Fake sandboxes that run until killed, or until `release` is set."""

    def __init__(self) -> None:
        self.started: asyncio.Queue[str] = asyncio.Queue()
        self.release = asyncio.Event()

    async def body(self, context: FakeSandboxContext) -> int:
        await self.started.put(context.spec.run_id)
        await self.release.wait()
        return 0


async def start(client: ApiClient, agent: str) -> str:
    created = await client.post(
        "/api/runs", json={"inline": {"manifest": manifest(agent), "prompt": "p"}, "input": {}}
    )
    assert created.status_code == 201, created.text
    run_id: str = created.json()["id"]
    return run_id


async def test_a_halt_stops_running_runs_in_its_scope(app: FastAPI) -> None:
    sandboxes = Sandboxes()
    stack = build_run_stack(
        container_of(app), adapter=FakeSandboxAdapter(body=sandboxes.body), worker_id="w"
    )
    async with asgi_client(app) as client:
        await client.register("owner@example.com", org="Acme")
        await stack.start()
        try:
            halted_run = await start(client, "ops")
            other_run = await start(client, "other")
            for _ in range(2):
                await asyncio.wait_for(sandboxes.started.get(), 30)
            response = await client.post(
                "/api/halts", json={"scope": "agent", "scope_value": "ops", "reason": "runaway"}
            )
            assert response.status_code == 201
            ended = await finished(client, halted_run)
            assert ended["status"] == "failed"
            assert ended["error"]["code"] == "halted"
            assert "runaway" in ended["error"]["message"]
            still = (await client.get(f"/api/runs/{other_run}")).json()
            assert still["status"] == "running"
            sandboxes.release.set()
            # It ends as its sandbox ends it (no output: runtime_exited), not by the halt.
            assert (await finished(client, other_run))["error"]["code"] == "runtime_exited"
        finally:
            await stack.stop()


async def test_a_pause_lets_running_runs_finish(app: FastAPI) -> None:
    sandboxes = Sandboxes()
    stack = build_run_stack(
        container_of(app), adapter=FakeSandboxAdapter(body=sandboxes.body), worker_id="w"
    )
    async with asgi_client(app) as client:
        await client.register("owner@example.com", org="Acme")
        await stack.start()
        try:
            run_id = await start(client, "ops")
            await asyncio.wait_for(sandboxes.started.get(), 30)
            paused = await client.post(
                "/api/halts", json={"scope": "application", "state": "paused", "reason": "r"}
            )
            assert paused.status_code == 201
            # Two checks of the running run after the pause committed: a pause stops nothing.
            await asyncio.wait_for(stack.worker.stop_checks_reach(stack.worker.stop_checks + 2), 30)
            assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == "running"
            refused = await client.post(
                "/api/runs",
                json={"inline": {"manifest": manifest("ops"), "prompt": "p"}, "input": {}},
            )
            assert refused.json()["code"] == "halted"
            sandboxes.release.set()
            assert (await finished(client, run_id))["error"]["code"] == "runtime_exited"
        finally:
            await stack.stop()
