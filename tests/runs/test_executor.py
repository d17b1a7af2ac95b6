"""The executor's endings with a scripted sandbox (the fake adapter), and lease recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from corral.api.app import create_app
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets import reservations
from corral.governance.halts.matching import Subject
from corral.run_stack import build_run_stack
from corral.runs import queue
from corral.runs.models import RUNNING, Run
from corral.runs.sandboxes.base import SandboxExit
from corral.runs.sandboxes.fake import (
    FakeSandboxAdapter,
    FakeSandboxContext,
    SandboxBody,
    SandboxEnded,
)
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.traces.support import container_of

MANIFEST = {
    "name": "triage",
    "version": "1.0.0",
    "model": {"provider": "scripted", "turns": [{"output": {}}]},
}


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(tmp_path, database_url))
    async with application.router.lifespan_context(application):
        yield application


async def run_with(app: FastAPI, body: SandboxBody, *, isolated: bool = True) -> dict[str, Any]:
    """Queue an inline run and execute it in a fake sandbox running `body`; the ended run."""
    adapter = FakeSandboxAdapter(body=body, isolated=isolated)
    stack = build_run_stack(container_of(app), adapter=adapter, worker_id="test-worker")
    async with asgi_client(app) as client:
        await client.register("owner@example.com", org="Acme")
        created = await client.post(
            "/api/runs", json={"inline": {"manifest": MANIFEST, "prompt": "p"}, "input": {}}
        )
        assert created.status_code == 201, created.text
        await stack.start()
        try:
            ended = await finished(client, created.json()["id"])
        finally:
            await stack.stop()
        logs = (await client.get(f"/api/runs/{ended['id']}/logs")).json()["data"]
    assert adapter.specs, "the executor started a sandbox"
    return {**ended, "logs": logs}


async def finished(client: ApiClient, run_id: str) -> dict[str, Any]:
    for _ in range(12):
        data: dict[str, Any] = (await client.get(f"/api/runs/{run_id}?wait=10")).json()
        if data["status"] not in ("queued", "running"):
            return data
    raise AssertionError(f"run {run_id} did not end")


async def test_a_memory_limit_fails_the_run_with_its_code(app: FastAPI) -> None:
    async def hog(_: FakeSandboxContext) -> int:
        raise SandboxEnded(SandboxExit(None, 9, "memory_limit", "Killed"))

    run = await run_with(app, hog)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "memory_limit_exceeded"
    assert run["error"]["details"]["signal"] == 9


async def test_a_runtime_that_exits_without_output_fails_with_its_output_tail(
    app: FastAPI,
) -> None:
    async def crash(context: FakeSandboxContext) -> int:
        context.write("ImportError: no module named pydantic_ai\n")
        return 3

    run = await run_with(app, crash)
    assert run["error"]["code"] == "runtime_exited"
    assert run["error"]["details"]["exit_code"] == 3
    assert "ImportError" in run["error"]["details"]["output_tail"]


async def test_a_sandbox_without_isolation_is_said_on_the_run(app: FastAPI) -> None:
    run = await run_with(app, lambda _: _zero(), isolated=False)
    warnings = [e["data"]["message"] for e in run["logs"] if e["kind"] == "log"]
    assert any("does not isolate" in message for message in warnings)


async def _zero() -> int:
    return 0


async def test_expired_leases_are_requeued_once_then_failed(app: FastAPI) -> None:
    container = container_of(app)
    async with asgi_client(app) as client:
        await client.register("owner@example.com", org="Acme")
        created = await client.post(
            "/api/runs", json={"inline": {"manifest": MANIFEST, "prompt": "p"}, "input": {}}
        )
        run_id = created.json()["id"]
        budget = await client.post("/api/budgets", json={"name": "b", "limit": "1"})
        assert budget.status_code == 201, budget.text
        for attempt in (1, 2):
            claimed = await queue.claim(
                container.sessions, f"gone-{attempt}", lease_seconds=30, limit=1
            )
            assert [run.id for run in claimed] == [run_id]
            lost = claimed[0]
            async with transaction(container.sessions) as session:
                await session.execute(
                    update(Run)
                    .where(Run.id == run_id)
                    .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                )
            # The lost worker's sidecar held part of the budget for a model call in flight.
            held = await reservations.reserve(
                container.sessions, lost.application_id, Subject(run_id=run_id), Decimal("0.4")
            )
            assert held is not None
            recovered = await queue.recover_expired(container.sessions)
            usage = (await client.get(f"/api/budgets/{budget.json()['id']}/usage")).json()
            assert Decimal(usage["reserved"]) == 0
            expected = (1, 0) if attempt == 1 else (0, 1)
            assert (recovered.requeued, recovered.failed) == expected
        run = (await client.get(f"/api/runs/{run_id}")).json()
        assert run["status"] == "failed"
        assert run["error"]["code"] == "worker_lost"
        assert run["attempts"] == 2
        statuses = [
            e["data"]["status"]
            for e in (await client.get(f"/api/runs/{run_id}/logs")).json()["data"]
            if e["kind"] == "status"
        ]
        assert statuses == ["queued", "running", "queued", "running", "failed"]
        assert await queue.renew(container.sessions, "gone-2", [run_id], lease_seconds=30) == set()
        assert RUNNING not in statuses[-1:]
