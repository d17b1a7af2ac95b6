"""`corral worker` as separate processes: two workers on PostgreSQL share the queue, every run
executes exactly once, and SIGTERM stops each cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from corral.api.app import create_app
from tests.cli.conftest import CHEAP_ARGON2
from tests.clients import ApiClient, asgi_client
from tests.conftest import TEST_SECRETS, make_settings

pytestmark = pytest.mark.skipif(
    os.environ.get("CI") != "true" and not Path("/usr/bin/bwrap").exists(),
    reason="bubblewrap is not installed",
)
STOP_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def postgres_only(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share a queue on PostgreSQL (SQLite has one writer)")
    return database_url


@pytest.fixture
async def api(tmp_path: Path, postgres_only: str) -> AsyncIterator[ApiClient]:
    """The API without a worker of its own: only the `corral worker` processes execute runs."""
    settings = make_settings(tmp_path, postgres_only)
    application = create_app(settings)
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        await c.register("owner@example.com", org="Acme")
        yield c


def _worker(tmp_path: Path, database_url: str, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(TEST_SECRETS)
    env.update(CHEAP_ARGON2)
    env.update(
        CORRAL_DATABASE_URL=database_url,
        CORRAL_DATA_DIR=str(tmp_path / name),
        CORRAL_SIDECAR_POOL_SIZE="0",
    )
    with (tmp_path / f"{name}.log").open("wb") as log:
        # A fixed argv: this interpreter running the CLI under test.
        return subprocess.Popen(
            [sys.executable, "-m", "corral.cli", "worker", "--concurrency", "2"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_two_workers_execute_every_run_exactly_once(
    tmp_path: Path, api: ApiClient, postgres_only: str
) -> None:
    manifest = {
        "name": "triage",
        "version": "1.0.0",
        "output_schema": {"type": "object", "properties": {"queue": {"type": "string"}}},
        "model": {"provider": "scripted", "turns": [{"output": {"queue": "billing"}}]},
    }
    created = await api.post("/api/agents", json={"manifest": manifest, "prompt": "Route it."})
    assert created.status_code == 201, created.text
    run_ids = []
    for _ in range(4):
        response = await api.post("/api/runs", json={"agent": "triage", "input": {}})
        run_ids.append(response.json()["id"])
    workers = [_worker(tmp_path, postgres_only, name) for name in ("one", "two")]
    try:
        ended: list[dict[str, Any]] = []
        for run_id in run_ids:
            for _ in range(12):
                run = (await api.get(f"/api/runs/{run_id}?wait=10")).json()
                if run["status"] not in ("queued", "running"):
                    break
            ended.append(run)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=STOP_TIMEOUT_SECONDS) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("one", "two")}
    assert [run["status"] for run in ended] == ["succeeded"] * 4, logs
    assert all(run["output"] == {"queue": "billing"} for run in ended)
    assert all(run["attempts"] == 1 for run in ended), "no run was claimed twice"
    assert codes == [0, 0], logs
    for name, text in logs.items():
        assert "Traceback" not in text, (name, text)
        assert "Corral worker" in text
    claimed_by = set()
    for run_id in run_ids:
        events = (await api.get(f"/api/runs/{run_id}/logs")).json()["data"]
        running = [e for e in events if e["kind"] == "status" and e["data"]["status"] == "running"]
        assert len(running) == 1
        claimed_by.add(running[0]["data"]["worker"])
    assert 1 <= len(claimed_by) <= 2
