"""Writing batches of spans (idempotently) and reading traces back, tenant-scoped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.errors import NotFound
from corral.core.pagination import paginate
from corral.identity.access import AppScope
from corral.traces.ingest import SpanRow
from corral.traces.models import COST_LIMIT, Span, Trace

_CHUNK = 500
# Summary totals saturate here, so adding two of them never overflows the column.
TOKEN_CAP = 2**53
COST_CAP = COST_LIMIT / 10
_SPANS = cast(Table, Span.__table__)
_TRACES = cast(Table, Trace.__table__)


@dataclass
class _Summary:
    org_id: str
    application_id: str
    trace_id: str
    start_time: datetime
    end_time: datetime
    span_count: int = 0
    error_count: int = 0
    root_name: str | None = None
    agent_name: str | None = None
    end_user_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def add(self, row: SpanRow) -> None:
        self.start_time = min(self.start_time, row["start_time"])
        self.end_time = max(self.end_time, row["end_time"])
        self.span_count += 1
        self.error_count += row["status"] == "error"
        if row["parent_span_id"] is None and self.root_name is None:
            self.root_name = row["name"]
        self.agent_name = self.agent_name or row["agent_name"]
        self.end_user_id = self.end_user_id or row["end_user_id"]
        self.input_tokens += row["input_tokens"] or 0
        self.output_tokens += row["output_tokens"] or 0
        self.cost_usd += row["cost_usd"] or 0

    def values(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values["input_tokens"] = min(self.input_tokens, TOKEN_CAP)
        values["output_tokens"] = min(self.output_tokens, TOKEN_CAP)
        values["cost_usd"] = min(self.cost_usd, COST_CAP)
        return values


async def write_spans(sessions: async_sessionmaker[AsyncSession], rows: list[SpanRow]) -> None:
    """Insert spans, skipping ones already stored, and fold the new ones into trace summaries."""
    async with transaction(sessions) as session:
        for start in range(0, len(rows), _CHUNK):
            await _write_chunk(session, rows[start : start + _CHUNK])


async def _write_chunk(session: AsyncSession, rows: list[SpanRow]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Duplicates inside one batch would make one multi-row insert conflict with itself.
    unique = list({(r["application_id"], r["trace_id"], r["span_id"]): r for r in rows}.values())
    if not unique:
        return
    spans = _SPANS.c
    span_stmt = (
        insert(_SPANS)
        .on_conflict_do_nothing(index_elements=["application_id", "trace_id", "span_id"])
        .returning(spans.application_id, spans.trace_id, spans.span_id)
    )
    inserted = {
        (r.application_id, r.trace_id, r.span_id)
        for r in await session.execute(span_stmt, [dict(r) for r in unique])
    }
    summaries: dict[tuple[str, str], _Summary] = {}
    for row in unique:
        if (row["application_id"], row["trace_id"], row["span_id"]) not in inserted:
            continue
        key = (row["application_id"], row["trace_id"])
        summary = summaries.get(key)
        if summary is None:
            summary = summaries[key] = _Summary(
                org_id=row["org_id"],
                application_id=row["application_id"],
                trace_id=row["trace_id"],
                start_time=row["start_time"],
                end_time=row["end_time"],
            )
        summary.add(row)
    least, greatest = (
        (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    )
    now = utcnow()
    traces = _TRACES.c
    for summary in summaries.values():
        stmt = insert(_TRACES).values(**summary.values(), created_at=now, updated_at=now)
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["application_id", "trace_id"],
            set_={
                "start_time": least(traces.start_time, new.start_time),
                "end_time": greatest(traces.end_time, new.end_time),
                "span_count": traces.span_count + new.span_count,
                "error_count": traces.error_count + new.error_count,
                "root_name": func.coalesce(new.root_name, traces.root_name),
                "agent_name": func.coalesce(traces.agent_name, new.agent_name),
                "end_user_id": func.coalesce(traces.end_user_id, new.end_user_id),
                "input_tokens": least(traces.input_tokens + new.input_tokens, TOKEN_CAP),
                "output_tokens": least(traces.output_tokens + new.output_tokens, TOKEN_CAP),
                "cost_usd": least(traces.cost_usd + new.cost_usd, COST_CAP),
                "updated_at": now,
            },
        )
        await session.execute(stmt)


async def list_traces(
    session: AsyncSession,
    scope: AppScope,
    *,
    agent: str | None,
    status: str | None,
    end_user: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Trace], str | None]:
    """The application's traces, newest first."""
    query = select(Trace).where(Trace.application_id == scope.application_id)
    if agent is not None:
        query = query.where(Trace.agent_name == agent)
    if status == "error":
        query = query.where(Trace.error_count > 0)
    elif status == "ok":
        query = query.where(Trace.error_count == 0)
    if end_user is not None:
        query = query.where(Trace.end_user_id == end_user)
    return await paginate(session, query, Trace.id, cursor=cursor, limit=limit)


async def get_trace(
    session: AsyncSession, scope: AppScope, trace_id: str
) -> tuple[Trace, Sequence[Span]]:
    """One trace of the application with all its spans, earliest first."""
    trace = await session.scalar(
        select(Trace).where(
            Trace.application_id == scope.application_id, Trace.trace_id == trace_id.lower()
        )
    )
    if trace is None:
        raise NotFound("trace")
    spans = await session.scalars(
        select(Span)
        .where(Span.application_id == scope.application_id, Span.trace_id == trace.trace_id)
        .order_by(Span.start_time, Span.id)
    )
    return trace, spans.all()
