"""Decision evidence retention: old rows and their policy links go, in bounded batches."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import func, select

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.models import DecisionPolicy, DecisionRecord
from corral.governance.retention import purge_decisions
from tests.clients import ApiClient
from tests.traces.support import container_of


def _record(owner: ApiClient, number: int, created_at: datetime) -> DecisionRecord:
    return DecisionRecord(
        id=f"dec_{number:04d}",
        org_id=owner.org_id,
        application_id=owner.app_id,
        decision_id=f"decision-{number}",
        source="api",
        call_name="tool.shell",
        action="block",
        policy_id="pol_1",
        created_at=created_at,
    )


async def _seed(app: FastAPI, owner: ApiClient, ages_in_days: list[int], now: datetime) -> None:
    async with transaction(container_of(app).sessions) as session:
        for number, age in enumerate(ages_in_days):
            session.add(_record(owner, number, now - timedelta(days=age)))
        await session.flush()
        for number in range(len(ages_in_days)):
            session.add(
                DecisionPolicy(
                    record_id=f"dec_{number:04d}",
                    policy_id="pol_1",
                    role="decided",
                    application_id=owner.app_id,
                )
            )


async def _counts(app: FastAPI) -> tuple[int, int]:
    async with container_of(app).sessions() as session:
        records = await session.scalar(select(func.count()).select_from(DecisionRecord))
        links = await session.scalar(select(func.count()).select_from(DecisionPolicy))
    return records or 0, links or 0


async def test_old_evidence_and_its_links_go_in_batches(owner: ApiClient, app: FastAPI) -> None:
    now = utcnow()
    await _seed(app, owner, [400, 399, 398, 366, 364, 10, 0], now)
    sessions = container_of(app).sessions

    first = await purge_decisions(
        sessions, retention_days=365, now=now, batch_rows=2, max_batches=1
    )
    assert first == 2
    rest = await purge_decisions(sessions, retention_days=365, now=now, batch_rows=2)
    assert rest == 2
    assert await _counts(app) == (3, 3)
    async with sessions() as session:
        kept = sorted(await session.scalars(select(DecisionRecord.decision_id)))
    assert kept == ["decision-4", "decision-5", "decision-6"]


async def test_zero_days_keeps_evidence_forever(owner: ApiClient, app: FastAPI) -> None:
    now = utcnow()
    await _seed(app, owner, [10_000, 1], now)
    removed = await purge_decisions(container_of(app).sessions, retention_days=0, now=now)
    assert removed == 0
    assert await _counts(app) == (2, 2)
