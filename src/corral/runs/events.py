"""A run's event log: numbered entries that logs, SSE and resumption read back.

Events are numbered 1, 2, … per run. While a run is queued, its creator and a canceller write
its events; once a worker claims it, the worker alone writes them (it holds the lease), so a
sequence number is never taken twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import utcnow
from corral.runs.models import Run, RunEvent

STATUS = "status"
MAX_PAGE = 500


def first_event(run: Run) -> RunEvent:
    return RunEvent(run_id=run.id, seq=1, at=utcnow(), kind=STATUS, data={"status": run.status})


def next_event(run: Run, kind: str, data: dict[str, Any]) -> RunEvent:
    """The run's next event, numbered from the row (which the caller holds for writing)."""
    seq = run.next_event_seq
    run.next_event_seq = seq + 1
    return RunEvent(run_id=run.id, seq=seq, at=utcnow(), kind=kind, data=data)


async def page(session: AsyncSession, run_id: str, *, after: int, limit: int) -> Sequence[RunEvent]:
    rows = await session.scalars(
        select(RunEvent)
        .where(RunEvent.run_id == run_id, RunEvent.seq > after)
        .order_by(RunEvent.seq)
        .limit(min(limit, MAX_PAGE))
    )
    return rows.all()
