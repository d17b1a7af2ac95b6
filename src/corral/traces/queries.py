"""Reading traces and spans back: always within the caller's application, keyset-paginated.

Span search orders by `(start_time, id)`, newest first, so that it walks the
`(application_id, start_time)` index (and, on PostgreSQL, prunes partitions by time). Its
full-text filter `q` is a case-insensitive substring match over the span name and the decoded
attribute values, evaluated on at most `SEARCH_SCAN_ROWS` candidate spans per request: a page may
then hold fewer than `limit` spans and still have a `next_cursor`, which continues the scan where
it stopped. No write-time text index is kept (docs/telemetry.md, "Span search", has the numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from corral.core.errors import InvalidInput, NotFound
from corral.core.pagination import decode_cursor, encode_cursor, paginate
from corral.identity.access import AppScope
from corral.traces.models import Span, Trace

SEARCH_SCAN_ROWS = 20_000
"""Candidate spans a full-text (`q`) search examines per request."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class TraceFilters:
    agent: str | None = None
    status: str | None = None
    end_user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_cost: Decimal | None = None
    max_cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SpanFilters:
    trace_id: str | None = None
    tool: str | None = None
    model: str | None = None
    agent: str | None = None
    category: str | None = None
    status: str | None = None
    end_user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


async def list_traces(
    session: AsyncSession,
    scope: AppScope,
    filters: TraceFilters,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Trace], str | None]:
    """The application's traces, newest first; the time range applies to their start."""
    scope.require("traces:read")
    query = select(Trace).where(Trace.application_id == scope.application_id)
    if filters.agent is not None:
        query = query.where(Trace.agent_name == filters.agent)
    if filters.status == "error":
        query = query.where(Trace.error_count > 0)
    elif filters.status == "ok":
        query = query.where(Trace.error_count == 0)
    if filters.end_user is not None:
        query = query.where(Trace.end_user_id == filters.end_user)
    if filters.since is not None:
        query = query.where(Trace.start_time >= filters.since)
    if filters.until is not None:
        query = query.where(Trace.start_time < filters.until)
    if filters.min_cost is not None:
        query = query.where(Trace.cost_usd >= filters.min_cost)
    if filters.max_cost is not None:
        query = query.where(Trace.cost_usd <= filters.max_cost)
    return await paginate(session, query, Trace.id, cursor=cursor, limit=limit)


async def get_trace(
    session: AsyncSession, scope: AppScope, trace_id: str
) -> tuple[Trace, Sequence[Span]]:
    """One trace of the application with all its spans, earliest first."""
    scope.require("traces:read")
    trace = await session.scalar(
        select(Trace).where(
            Trace.application_id == scope.application_id, Trace.trace_id == trace_id.lower()
        )
    )
    if trace is None:
        raise NotFound("trace", code="trace_not_found")
    # Sorted here, not by the database: with ORDER BY start_time, SQLite's planner walks the
    # `(application_id, start_time)` index over every span of the application (about 0.7 s at a
    # million spans) instead of the unique key's `(application_id, trace_id)` prefix (5 ms).
    spans = await session.scalars(
        select(Span).where(
            Span.application_id == scope.application_id, Span.trace_id == trace.trace_id
        )
    )
    return trace, sorted(spans.all(), key=lambda span: (span.start_time, span.id))


async def search_spans(
    session: AsyncSession,
    scope: AppScope,
    filters: SpanFilters,
    *,
    cursor: str | None,
    limit: int,
    scan_rows: int = SEARCH_SCAN_ROWS,
) -> tuple[Sequence[Span], str | None]:
    """The application's spans matching every filter, newest first.

    With `q`, at most `scan_rows` candidates (the spans matching the other filters) are examined.
    """
    scope.require("traces:read")
    query = select(Span).where(*_span_conditions(scope, filters))
    if cursor is not None:
        start, span_id = _decode_span_cursor(cursor)
        query = query.where(
            Span.start_time <= start, or_(Span.start_time < start, Span.id < span_id)
        )
    newest_first = (Span.start_time.desc(), Span.id.desc())
    if not filters.q:
        rows = (await session.scalars(query.order_by(*newest_first).limit(limit + 1))).all()
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], _span_cursor(rows[limit - 1])

    dialect = session.get_bind().dialect.name
    candidates = query.order_by(*newest_first).limit(scan_rows).subquery()
    candidate = aliased(Span, candidates)
    matching = (
        select(candidate)
        .where(_text_match(candidate, filters.q, dialect))
        .order_by(candidate.start_time.desc(), candidate.id.desc())
        .limit(limit + 1)
    )
    rows = (await session.scalars(matching)).all()
    if len(rows) > limit:
        return rows[:limit], _span_cursor(rows[limit - 1])
    # Fewer matches than asked: continue after the last candidate if the scan budget ran out.
    last_candidate = (
        await session.execute(
            query.with_only_columns(Span.start_time, Span.id)
            .order_by(*newest_first)
            .offset(scan_rows - 1)
            .limit(1)
        )
    ).first()
    if last_candidate is None:
        return rows, None
    start, span_id = last_candidate
    return rows, encode_cursor(_cursor_text(start, span_id))


def _span_conditions(scope: AppScope, filters: SpanFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Span.application_id == scope.application_id]
    equal: list[tuple[Any, str | None]] = [
        (Span.trace_id, filters.trace_id.lower() if filters.trace_id else None),
        (Span.tool_name, filters.tool),
        (Span.model, filters.model),
        (Span.agent_name, filters.agent),
        (Span.category, filters.category),
        (Span.status, filters.status),
        (Span.end_user_id, filters.end_user),
    ]
    conditions.extend(col == value for col, value in equal if value is not None)
    if filters.since is not None:
        conditions.append(Span.start_time >= filters.since)
    if filters.until is not None:
        conditions.append(Span.start_time < filters.until)
    return conditions


def _text_match(span: Any, q: str, dialect: str) -> ColumnElement[bool]:
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if dialect == "postgresql":
        # Top-level values, decoded from JSON: escapes such as \\u00e9 match what was sent.
        values = func.json_each_text(span.attributes).table_valued("key", "value")
        in_values = exists(select(1).select_from(values).where(values.c.value.ilike(pattern, "\\")))
        return or_(span.name.ilike(pattern, "\\"), in_values)
    # SQLite's LIKE ignores case for ASCII letters only.
    tree = func.json_tree(span.attributes).table_valued("type", "atom")
    in_tree = exists(
        select(1)
        .select_from(tree)
        .where(and_(tree.c.type == "text", tree.c.atom.like(pattern, "\\")))
    )
    return or_(span.name.like(pattern, "\\"), in_tree)


def _cursor_text(start: datetime, span_id: str) -> str:
    return f"{(start - _EPOCH) // _MICROSECOND}:{span_id}"


def _span_cursor(span: Span) -> str:
    return encode_cursor(_cursor_text(span.start_time, span.id))


def _decode_span_cursor(cursor: str) -> tuple[datetime, str]:
    micros, _, span_id = decode_cursor(cursor).partition(":")
    if not span_id or not micros.lstrip("-").isdigit() or len(micros) > 20:
        raise InvalidInput("cursor is not one this API issued", code="invalid_cursor")
    try:
        return _EPOCH + int(micros) * _MICROSECOND, span_id
    except OverflowError as exc:
        raise InvalidInput("cursor is not one this API issued", code="invalid_cursor") from exc
