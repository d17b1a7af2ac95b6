"""Decision evidence retention: `policy_decisions` rows older than the retention go.

Evidence outlives the spans it came from by default (it is what an auditor asks for), so it has
its own retention. Deletes run in bounded batches, each its own short transaction, so the
ingest writer (SQLite has one writer) never waits long; the policy links go with their row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.db import transaction
from corral.governance.models import DecisionPolicy, DecisionRecord

BATCH_ROWS = 5000
MAX_BATCHES_PER_TICK = 40
"""What is left after this many batches waits for the next tick."""


async def purge_decisions(
    sessions: async_sessionmaker[AsyncSession],
    *,
    retention_days: int,
    now: datetime,
    batch_rows: int = BATCH_ROWS,
    max_batches: int = MAX_BATCHES_PER_TICK,
) -> int:
    """Delete decision evidence older than `retention_days` (0 keeps it); how many rows went."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    deleted = 0
    for _ in range(max_batches):
        async with transaction(sessions) as session:
            victims = list(
                await session.scalars(
                    select(DecisionRecord.id)
                    .where(DecisionRecord.created_at < cutoff)
                    .limit(batch_rows)
                )
            )
            if victims:
                # Explicitly, not by cascade: the same on both databases whatever their settings.
                await session.execute(
                    delete(DecisionPolicy).where(DecisionPolicy.record_id.in_(victims))
                )
                await session.execute(delete(DecisionRecord).where(DecisionRecord.id.in_(victims)))
        deleted += len(victims)
        if len(victims) < batch_rows:
            break
    return deleted
