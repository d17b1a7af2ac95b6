"""Inline run retention: an inline run carries a whole agent package that was never reviewed,
so it is kept only `retention_days` after it ended (CORRAL_INLINE_RUN_LIMITS); installed agents'
runs follow the application's own data lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.db import transaction
from corral.runs.models import TERMINAL_STATUSES, Run, RunEvent

BATCH_ROWS = 500
MAX_BATCHES_PER_TICK = 20


async def purge_inline_runs(
    sessions: async_sessionmaker[AsyncSession], *, retention_days: int, now: datetime
) -> int:
    """Delete ended inline runs (and their events) older than the retention; how many went."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    deleted = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        async with transaction(sessions) as session:
            victims = list(
                await session.scalars(
                    select(Run.id)
                    .where(
                        Run.inline.is_(True),
                        Run.status.in_(TERMINAL_STATUSES),
                        Run.finished_at < cutoff,
                    )
                    .limit(BATCH_ROWS)
                )
            )
            if victims:
                await session.execute(delete(RunEvent).where(RunEvent.run_id.in_(victims)))
                await session.execute(delete(Run).where(Run.id.in_(victims)))
        deleted += len(victims)
        if len(victims) < BATCH_ROWS:
            break
    return deleted
