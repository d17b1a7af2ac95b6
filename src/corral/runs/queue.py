"""The run queue: claiming with leases, renewing them, and recovering runs of lost workers.

The `runs` table is the queue. A worker claims queued runs in one statement (`FOR UPDATE SKIP
LOCKED` on PostgreSQL, so workers never wait on each other; SQLite serializes writers anyway),
holds each under a lease it renews while the run executes, and a run whose lease expired is
recovered: queued again once, then failed as `worker_lost`, since a second crash mid-run is
more likely the run's fault than bad luck.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets import reservations
from corral.runs.announcements import announce
from corral.runs.events import STATUS
from corral.runs.models import FAILED, QUEUED, RUNNING, Run, RunEvent

# A run is started at most this many times (the first attempt and one after a lost worker).
MAX_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class Recovered:
    requeued: int
    failed: int


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    worker_id: str,
    *,
    lease_seconds: float,
    limit: int,
) -> Sequence[Run]:
    """Claim up to `limit` queued runs, oldest first, and mark each `running`."""
    now = utcnow()
    async with transaction(sessions) as session:
        candidates = (
            select(Run.id)
            .where(Run.status == QUEUED)
            .order_by(Run.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = (
            await session.scalars(
                update(Run)
                .where(Run.id.in_(candidates), Run.status == QUEUED)
                .values(
                    status=RUNNING,
                    lease_owner=worker_id,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=Run.attempts + 1,
                    started_at=func.coalesce(Run.started_at, now),
                    next_event_seq=Run.next_event_seq + 1,
                )
                .returning(Run)
                .execution_options(synchronize_session=False)
            )
        ).all()
        for run in claimed:
            session.add(
                RunEvent(
                    run_id=run.id,
                    seq=run.next_event_seq - 1,
                    at=now,
                    kind=STATUS,
                    data={"status": RUNNING, "attempt": run.attempts, "worker": worker_id},
                )
            )
            # A run requeued after a lost worker has started already, as far as anyone knows.
            if run.attempts == 1:
                await announce(session, run, RUNNING)
    return claimed


async def renew(
    sessions: async_sessionmaker[AsyncSession],
    worker_id: str,
    run_ids: Sequence[str],
    *,
    lease_seconds: float,
) -> set[str]:
    """Extend the leases of these runs; returns the ids that are still this worker's."""
    if not run_ids:
        return set()
    async with transaction(sessions) as session:
        kept = await session.scalars(
            update(Run)
            .where(Run.id.in_(run_ids), Run.lease_owner == worker_id, Run.status == RUNNING)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            .returning(Run.id)
            .execution_options(synchronize_session=False)
        )
        return set(kept.all())


async def cancel_requested(
    sessions: async_sessionmaker[AsyncSession], run_ids: Sequence[str]
) -> set[str]:
    """Which of these runs someone asked to cancel (another process's API, say)."""
    if not run_ids:
        return set()
    async with sessions() as session:
        rows = await session.scalars(
            select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested_at.is_not(None))
        )
        return set(rows.all())


async def recover_expired(sessions: async_sessionmaker[AsyncSession]) -> Recovered:
    """Requeue (or fail, past MAX_ATTEMPTS) the running runs whose lease has expired."""
    now = utcnow()
    requeued = failed = 0
    async with transaction(sessions) as session:
        lost = (
            await session.scalars(
                select(Run)
                .where(Run.status == RUNNING, Run.lease_expires_at < now)
                .limit(100)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for run in lost:
            seq = (
                await session.scalar(
                    select(func.max(RunEvent.seq)).where(RunEvent.run_id == run.id)
                )
                or 0
            ) + 1
            previous = run.lease_owner
            # The lost worker's sidecar will never settle what it held.
            await reservations.release_for_run(session, run.id)
            run.lease_owner = None
            run.lease_expires_at = None
            if run.attempts < MAX_ATTEMPTS and run.cancel_requested_at is None:
                run.status = QUEUED
                requeued += 1
                data = {"status": QUEUED, "reason": "worker_lost", "worker": previous}
            else:
                run.status = FAILED
                run.finished_at = now
                run.error_code = "worker_lost"
                run.error_message = "the worker running this run stopped answering"
                failed += 1
                data = {"status": FAILED, "reason": "worker_lost", "worker": previous}
                await announce(
                    session,
                    run,
                    FAILED,
                    error_code=run.error_code,
                    error_message=run.error_message,
                )
            session.add(RunEvent(run_id=run.id, seq=seq, at=now, kind=STATUS, data=data))
            run.next_event_seq = seq + 1
    return Recovered(requeued, failed)
