"""Run lifecycle webhooks: queued with each status change, delivered signed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from corral.api.app import create_app
from corral.run_stack import build_run_stack
from corral.runs.sandboxes.base import SandboxExit
from corral.runs.sandboxes.fake import FakeSandboxAdapter, FakeSandboxContext, SandboxEnded
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.local_http import LocalServer, serving
from tests.runs.test_executor import MANIFEST, finished
from tests.traces.support import container_of


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, database_url, webhooks={"allow_private_targets": True})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    with serving() as server:
        yield server


@pytest.fixture
async def owner(app: FastAPI) -> AsyncIterator[ApiClient]:
    async with asgi_client(app) as client:
        await client.register("owner@example.com", org="Acme")
        yield client


async def start_run(client: ApiClient) -> str:
    body = {"inline": {"manifest": MANIFEST, "prompt": "p"}, "input": {}}
    created = await client.post("/api/runs", json=body)
    assert created.status_code == 201, created.text
    run_id: str = created.json()["id"]
    return run_id


async def test_a_run_announces_its_start_and_its_failure(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    endpoint = (await owner.post("/api/webhooks", json={"url": receiver.url("/runs")})).json()

    async def killed(_: FakeSandboxContext) -> int:
        raise SandboxEnded(SandboxExit(None, 9, "memory_limit", "Killed"))

    stack = build_run_stack(
        container_of(app), adapter=FakeSandboxAdapter(body=killed), worker_id="test-worker"
    )
    run_id = await start_run(owner)
    await stack.start()
    try:
        await finished(owner, run_id)
    finally:
        await stack.stop()
    await container_of(app).webhook_sender.deliver_due()
    payloads = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in receiver.received]
    by_type = {p["type"]: p["data"] for p in payloads}
    assert set(by_type) == {"run.started", "run.failed"}
    assert by_type["run.started"]["run_id"] == run_id
    assert by_type["run.failed"]["error"]["code"] == "memory_limit_exceeded"
    assert by_type["run.failed"]["agent"] == "triage"


async def test_cancelling_a_queued_run_announces_it(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    endpoint = (
        await owner.post(
            "/api/webhooks", json={"url": receiver.url("/"), "event_types": ["run.cancelled"]}
        )
    ).json()
    run_id = await start_run(owner)
    assert (await owner.post(f"/api/runs/{run_id}/cancel")).status_code == 200
    await container_of(app).webhook_sender.deliver_due()
    [got] = receiver.received
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert (payload["type"], payload["data"]["run_id"]) == ("run.cancelled", run_id)
