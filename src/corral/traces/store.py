"""Writing batches of spans, idempotently, and folding them into per-trace summaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.traces.ingest import SpanRow
from corral.traces.models import COST_LIMIT, SPAN_UNIQUE_KEY, Span, Trace

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
    unique = list(
        {
            (r["application_id"], r["trace_id"], r["span_id"], r["start_time"]): r for r in rows
        }.values()
    )
    if not unique:
        return
    spans = _SPANS.c
    span_stmt = (
        insert(_SPANS)
        .on_conflict_do_nothing(index_elements=list(SPAN_UNIQUE_KEY))
        .returning(spans.application_id, spans.trace_id, spans.span_id, spans.start_time)
    )
    inserted = {
        (r.application_id, r.trace_id, r.span_id, r.start_time)
        for r in await session.execute(span_stmt, [dict(r) for r in unique])
    }
    summaries: dict[tuple[str, str], _Summary] = {}
    for row in unique:
        span_key = (row["application_id"], row["trace_id"], row["span_id"], row["start_time"])
        if span_key not in inserted:
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
