"""The batched span writer: each span stored once, however often and however mixed it arrives.

On PostgreSQL the writer copies a batch straight into `spans` and falls back to a staging table
when the batch holds spans already stored (exporter retries); on SQLite it inserts what it did
not find. Both must store every span once and fold it into its trace summary once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from corral.core.clock import utcnow
from corral.traces import partitions
from corral.traces.ingest import SpanRow
from corral.traces.models import Span, Trace
from corral.traces.span_copy import STAGING_TABLE
from corral.traces.store import write_spans
from tests.clients import ApiClient
from tests.traces.support import container_of

DAY = timedelta(days=1)


def _row(owner: ApiClient, trace: int, span: int, start: datetime, **extra: object) -> SpanRow:
    row: SpanRow = {
        "org_id": owner.org_id,
        "application_id": owner.app_id,
        "trace_id": f"{trace:032x}",
        "span_id": f"{span:016x}",
        "parent_span_id": None if span % 10 == 0 else f"{span - span % 10:016x}",
        "name": f"span {span}",
        "kind": "client",
        "category": "llm",
        "call_name": "llm.openai",
        "start_time": start,
        "end_time": start + timedelta(milliseconds=5),
        "duration_ms": 5,
        "status": "ok",
        "status_message": "",
        "agent_name": "agent",
        "tool_name": None,
        "model": "gpt-4o",
        "provider": "openai",
        "end_user_id": None,
        "input_tokens": 10,
        "output_tokens": 2,
        "cost_usd": Decimal("0.0001"),
        "attributes": {"gen_ai.request.model": "gpt-4o", "text": "héllo ✓", "n": 2**62},
        "resource_attributes": {"service.name": "svc"},
        "events": [{"name": "e", "time_unix_nano": 1, "attributes": {}}],
    }
    row.update(extra)  # type: ignore[typeddict-item]
    return row


async def _stored(app: FastAPI) -> tuple[int, dict[str, tuple[int, int]]]:
    """(span rows, span_count and input_tokens per trace id)."""
    async with container_of(app).sessions() as session:
        spans = await session.scalar(select(func.count()).select_from(Span))
        traces = (
            await session.execute(select(Trace.trace_id, Trace.span_count, Trace.input_tokens))
        ).all()
    assert spans is not None
    return spans, {t: (count, tokens) for t, count, tokens in traces}


async def test_a_batch_written_twice_is_stored_once(owner: ApiClient, app: FastAPI) -> None:
    now = utcnow().replace(microsecond=123456)
    batch = [_row(owner, trace, trace * 10 + n, now) for trace in (1, 2) for n in range(3)]
    sessions = container_of(app).sessions
    await write_spans(sessions, batch)
    await write_spans(sessions, batch)
    assert await _stored(app) == (6, {f"{1:032x}": (3, 30), f"{2:032x}": (3, 30)})
    async with sessions() as session:
        stored = await session.scalar(select(Span).where(Span.span_id == f"{10:016x}"))
    assert stored is not None
    assert stored.start_time == now
    assert stored.attributes == batch[0]["attributes"]
    assert stored.events == batch[0]["events"]
    assert stored.cost_usd == Decimal("0.0001")


async def test_a_retry_mixed_with_new_spans_stores_only_the_new(
    owner: ApiClient, app: FastAPI
) -> None:
    now = utcnow()
    sessions = container_of(app).sessions
    first = [_row(owner, 1, 10 + n, now) for n in range(3)]
    await write_spans(sessions, first)
    # A retry of two stored spans, a duplicate inside the batch, and two new spans.
    retry = [*first[:2], _row(owner, 1, 13, now), _row(owner, 1, 13, now), _row(owner, 2, 20, now)]
    await write_spans(sessions, retry)
    assert await _stored(app) == (5, {f"{1:032x}": (4, 40), f"{2:032x}": (1, 10)})
    # The same span id at another start time is another span (the unique key includes it).
    await write_spans(sessions, [_row(owner, 1, 10, now + timedelta(seconds=1))])
    assert (await _stored(app))[0] == 6


async def test_postgres_batch_across_two_day_partitions(owner: ApiClient, app: FastAPI) -> None:
    container = container_of(app)
    if container.engine.dialect.name != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")
    now = utcnow()
    await partitions.ensure_partitions(container.engine, now=now, oldest_kept=None)
    yesterday, today = now - DAY, now
    batch = [_row(owner, 1, 10, yesterday), _row(owner, 1, 11, today)]
    await write_spans(container.sessions, batch)
    # The retry takes the staging path; it must route by day the same way.
    await write_spans(container.sessions, [*batch, _row(owner, 1, 12, today)])
    async with container.engine.connect() as conn:
        placed: dict[str, str] = dict(
            (
                await conn.execute(
                    text("SELECT span_id, tableoid::regclass::text FROM spans ORDER BY span_id")
                )
            ).all()
        )
        # The staging table is the connection's own and left empty for the next batch.
        leftovers = await conn.execute(
            text("SELECT count(*) FROM pg_class WHERE relname = :name AND relpersistence = 't'"),
            {"name": STAGING_TABLE},
        )
        assert leftovers.scalar_one() in (0, 1)
    assert placed == {
        f"{10:016x}": partitions.DayPartition(yesterday.date()).name,
        f"{11:016x}": partitions.DayPartition(today.date()).name,
        f"{12:016x}": partitions.DayPartition(today.date()).name,
    }
    assert await _stored(app) == (3, {f"{1:032x}": (3, 30)})
