"""Inline run retention: ended inline runs past the retention go with their events; nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import func, select, update

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.runs.models import Run, RunEvent
from corral.runs.retention import purge_inline_runs
from tests.api.test_agents import manifest
from tests.clients import ApiClient
from tests.traces.support import container_of


async def _run(owner: ApiClient, body: Mapping[str, object]) -> str:
    response = await owner.post("/api/runs", json={**body, "input": {"ticket": "t"}})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def test_only_old_ended_inline_runs_are_purged(owner: ApiClient, app: FastAPI) -> None:
    inline = {"inline": {"manifest": manifest(), "prompt": "p"}}
    created = await owner.post("/api/agents", json={"manifest": manifest(), "prompt": "p"})
    old_inline = await _run(owner, inline)
    fresh_inline = await _run(owner, inline)
    queued_inline = await _run(owner, inline)
    old_installed = await _run(owner, {"agent": created.json()["id"]})
    for run_id in (old_inline, fresh_inline, old_installed):
        await owner.post(f"/api/runs/{run_id}/cancel")
    sessions = container_of(app).sessions
    long_ago = utcnow() - timedelta(days=31)
    async with transaction(sessions) as session:
        await session.execute(
            update(Run).where(Run.id.in_([old_inline, old_installed])).values(finished_at=long_ago)
        )
    removed = await purge_inline_runs(sessions, retention_days=30, now=utcnow())
    assert removed == 1
    async with sessions() as session:
        left = set(await session.scalars(select(Run.id)))
        orphans = await session.scalar(
            select(func.count()).select_from(RunEvent).where(RunEvent.run_id == old_inline)
        )
    assert left == {fresh_inline, queued_inline, old_installed}
    assert orphans == 0
    assert await purge_inline_runs(sessions, retention_days=0, now=utcnow()) == 0
