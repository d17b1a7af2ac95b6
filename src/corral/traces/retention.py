"""Trace retention: spans and trace summaries older than their application's retention go.

Each application keeps its data for its own `retention_days` (ingest settings) or, without one,
`CORRAL_TRACE_RETENTION_DAYS`; 0 keeps it forever. Deletes run in bounded batches, each its own
short transaction, so the ingest writer never waits long for the lock (SQLite has one writer).

On PostgreSQL, whole daily partitions are dropped once every application's retention has passed
them, which costs nothing per row. Rows are deleted one batch at a time only where that is not
enough: for applications that keep less than the longest retention, and in the default
partition, which is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from corral.core.db import transaction
from corral.identity.models import Application
from corral.traces import partitions
from corral.traces.models import DEFAULT_PARTITION, IngestSettings, Span, Trace

BATCH_ROWS = 5000
MAX_BATCHES_PER_TICK = 40
"""Per table and tick: what is left waits for the next tick."""


@dataclass
class RetentionReport:
    deleted_spans: int = 0
    deleted_traces: int = 0
    created_partitions: list[str] = field(default_factory=list)
    dropped_partitions: list[str] = field(default_factory=list)

    @property
    def did_anything(self) -> bool:
        return bool(
            self.deleted_spans
            or self.deleted_traces
            or self.created_partitions
            or self.dropped_partitions
        )


class _Budget:
    def __init__(self, batches: int) -> None:
        self.batches = batches

    def take(self) -> bool:
        if self.batches <= 0:
            return False
        self.batches -= 1
        return True


async def retention_days_by_application(
    sessions: async_sessionmaker[AsyncSession], default_days: int
) -> dict[str, int | None]:
    """Each application's retention in days; None keeps its data forever."""
    async with sessions() as session:
        rows = await session.execute(
            select(Application.id, IngestSettings.retention_days).outerjoin(
                IngestSettings, IngestSettings.application_id == Application.id
            )
        )
        days = {app_id: default_days if override is None else override for app_id, override in rows}
    return {app_id: value or None for app_id, value in days.items()}


async def enforce_retention(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    *,
    default_days: int,
    now: datetime,
    batch_rows: int = BATCH_ROWS,
    max_batches: int = MAX_BATCHES_PER_TICK,
) -> RetentionReport:
    """One pass of retention (and, on PostgreSQL, partition upkeep)."""
    report = RetentionReport()
    by_app = await retention_days_by_application(sessions, default_days)
    kept = list(by_app.values())
    longest = None if None in kept else max((d for d in kept if d is not None), default=None)
    partitioned = engine.dialect.name == "postgresql"
    if partitioned:
        oldest = None if longest is None else now - timedelta(days=longest)
        report.created_partitions = await partitions.ensure_partitions(
            engine, now=now, oldest_kept=oldest
        )
        if oldest is not None:
            report.dropped_partitions = await partitions.drop_partitions_before(engine, oldest)
            report.deleted_spans += await _delete_old_default_rows(
                engine, oldest, batch_rows, _Budget(max_batches)
            )

    span_budget, trace_budget = _Budget(max_batches), _Budget(max_batches)
    for app_id, days in sorted(by_app.items()):
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        # Partitions already go at the longest retention; rows go only for shorter ones.
        if not partitioned or longest is None or days < longest:
            report.deleted_spans += await _delete_spans(
                sessions, app_id, cutoff, batch_rows, span_budget
            )
        report.deleted_traces += await _delete_traces(
            sessions, app_id, cutoff, batch_rows, trace_budget
        )
    return report


async def _delete_spans(
    sessions: async_sessionmaker[AsyncSession],
    app_id: str,
    cutoff: datetime,
    batch_rows: int,
    budget: _Budget,
) -> int:
    deleted = 0
    old = (Span.application_id == app_id, Span.start_time < cutoff)
    while budget.take():
        victims = select(Span.id, Span.start_time).where(*old).limit(batch_rows)
        statement = delete(Span).where(tuple_(Span.id, Span.start_time).in_(victims), *old)
        async with transaction(sessions) as session:
            count = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
        deleted += count
        if count < batch_rows:
            break
    return deleted


async def _delete_traces(
    sessions: async_sessionmaker[AsyncSession],
    app_id: str,
    cutoff: datetime,
    batch_rows: int,
    budget: _Budget,
) -> int:
    deleted = 0
    old = (Trace.application_id == app_id, Trace.start_time < cutoff, Trace.end_time < cutoff)
    while budget.take():
        victims = select(Trace.id).where(*old).limit(batch_rows)
        async with transaction(sessions) as session:
            result = await session.execute(delete(Trace).where(Trace.id.in_(victims)))
        count: int = result.rowcount  # type: ignore[attr-defined]
        deleted += count
        if count < batch_rows:
            break
    return deleted


async def _delete_old_default_rows(
    engine: AsyncEngine, cutoff: datetime, batch_rows: int, budget: _Budget
) -> int:
    """Rows older than every retention that sit in the (never dropped) default partition."""
    deleted = 0
    statement = text(
        f"DELETE FROM {DEFAULT_PARTITION} WHERE ctid IN ("  # noqa: S608
        f"SELECT ctid FROM {DEFAULT_PARTITION} WHERE start_time < :cutoff LIMIT :rows)"
    )
    while budget.take():
        async with engine.begin() as conn:
            count = (await conn.execute(statement, {"cutoff": cutoff, "rows": batch_rows})).rowcount
        deleted += count
        if count < batch_rows:
            break
    return deleted
