"""Writing batches of spans, idempotently, and folding them into per-trace summaries.

The hot path of ingest, so it talks to the database driver directly instead of through
SQLAlchemy's per-row statement machinery (which cost more than everything else together):

- PostgreSQL: one binary `COPY` of the batch into `spans` (PostgreSQL routes the rows to their
  day partitions) inside a savepoint. An exporter retry re-sends spans already stored; their
  unique violation rolls the savepoint back and the batch goes through a temporary staging
  table instead: `COPY` into it, then `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`
  tells which spans were new.
- SQLite: the single writer holds the database lock for the whole transaction (`BEGIN
  IMMEDIATE`), so reading which of the batch's spans exist and then inserting the others with
  one `executemany` cannot race another writer.

Either way only spans new to the database are folded into the summaries, with one upsert
statement per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import new_id
from corral.traces.ingest import SpanRow
from corral.traces.models import COST_LIMIT, Span, Trace
from corral.traces.span_copy import copy_new_spans, encode_json

_CHUNK = 2000
# Summary totals saturate here, so adding two of them never overflows the column.
TOKEN_CAP = 2**53
COST_CAP = COST_LIMIT / 10
_SPANS = cast(Table, Span.__table__)
_TRACES = cast(Table, Trace.__table__)
SPAN_COLUMNS: tuple[str, ...] = tuple(c.name for c in _SPANS.columns)
_JSON_COLUMNS = frozenset({"attributes", "resource_attributes", "events"})
_SQLITE_IN_LIMIT = 500
SpanKey = tuple[str, str, str, datetime]


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

    def values(self, now: datetime) -> dict[str, Any]:
        values = dict(self.__dict__)
        values["id"] = new_id("trc")
        values["input_tokens"] = min(self.input_tokens, TOKEN_CAP)
        values["output_tokens"] = min(self.output_tokens, TOKEN_CAP)
        values["cost_usd"] = min(self.cost_usd, COST_CAP)
        values["created_at"] = values["updated_at"] = now
        return values


def span_key(row: SpanRow) -> SpanKey:
    return (row["application_id"], row["trace_id"], row["span_id"], row["start_time"])


async def write_spans(sessions: async_sessionmaker[AsyncSession], rows: list[SpanRow]) -> None:
    """Insert spans, skipping ones already stored, and fold the new ones into trace summaries."""
    async with transaction(sessions) as session:
        for start in range(0, len(rows), _CHUNK):
            await _write_chunk(session, rows[start : start + _CHUNK])


async def _write_chunk(session: AsyncSession, rows: list[SpanRow]) -> None:
    # Duplicates inside one batch would make the batch conflict with itself.
    unique = list({span_key(r): r for r in rows}.values())
    if not unique:
        return
    connection = await session.connection()
    dialect = connection.dialect
    driver = (await connection.get_raw_connection()).driver_connection
    now = utcnow()
    ids = [new_id("spn") for _ in unique]
    if dialect.name == "postgresql":
        new = await copy_new_spans(driver, unique, ids, now)
    else:
        new = await _insert_new_sqlite(driver, dialect, unique, ids, now)
    if new:
        await _upsert_summaries(session, dialect.name, new, now)


async def _insert_new_sqlite(
    driver: Any, dialect: Dialect, rows: list[SpanRow], ids: list[str], now: datetime
) -> list[SpanRow]:
    encode = _sqlite_encoders(dialect)
    time_of = encode["start_time"]
    # Stored times are compared in their stored (encoded) form.
    existing = await _existing_sqlite(driver, rows)
    new = [
        (row, span_id)
        for row, span_id in zip(rows, ids, strict=True)
        if (row["application_id"], row["trace_id"], row["span_id"], time_of(row["start_time"]))
        not in existing
    ]
    if not new:
        return []
    json_cache: dict[int, str] = {}
    records = []
    for row, span_id in new:
        values: dict[str, Any] = {**row, "id": span_id, "created_at": now}
        record = []
        for column in SPAN_COLUMNS:
            value = values[column]
            if column in _JSON_COLUMNS:
                record.append(_json_text(value, json_cache))
            elif column in encode:
                record.append(encode[column](value))
            else:
                record.append(value)
        records.append(record)
    placeholders = ", ".join("?" for _ in SPAN_COLUMNS)
    # OR IGNORE only as a guard: the read above already left out every stored span.
    await driver.executemany(
        f"INSERT OR IGNORE INTO spans ({', '.join(SPAN_COLUMNS)}) "  # noqa: S608 - own names
        f"VALUES ({placeholders})",
        records,
    )
    return [row for row, _ in new]


async def _existing_sqlite(driver: Any, rows: Sequence[SpanRow]) -> set[tuple[str, str, str, Any]]:
    wanted = sorted({(r["application_id"], r["trace_id"]) for r in rows})
    found: set[tuple[str, str, str, Any]] = set()
    for start in range(0, len(wanted), _SQLITE_IN_LIMIT):
        part = wanted[start : start + _SQLITE_IN_LIMIT]
        pairs = " OR ".join("(application_id = ? AND trace_id = ?)" for _ in part)
        params = [value for pair in part for value in pair]
        cursor = await driver.execute(
            f"SELECT application_id, trace_id, span_id, start_time FROM spans WHERE {pairs}",  # noqa: S608
            params,
        )
        found.update((a, t, s, st) for a, t, s, st in await cursor.fetchall())
    return found


def _sqlite_encoders(dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """The bind processors SQLAlchemy would apply, for the columns that have one."""
    encoders: dict[str, Callable[[Any], Any]] = {}
    for column in _SPANS.columns:
        if column.name in _JSON_COLUMNS:
            continue
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            encoders[column.name] = processor
    return encoders


def _json_text(value: Any, cache: dict[int, str]) -> str:
    # Resource attributes are one object shared by the spans of a request: encoded once.
    key = id(value)
    text = cache.get(key)
    if text is None:
        text = cache[key] = encode_json(value).decode()
    return text


def _summaries(rows: Iterable[SpanRow]) -> list[_Summary]:
    summaries: dict[tuple[str, str], _Summary] = {}
    for row in rows:
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
    return list(summaries.values())


def _summary_upsert(dialect_name: str) -> Any:
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    least, greatest = (
        (func.least, func.greatest) if dialect_name == "postgresql" else (func.min, func.max)
    )
    traces = _TRACES.c
    stmt = insert(_TRACES)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
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
            "updated_at": new.updated_at,
        },
    )


_UPSERTS = {name: _summary_upsert(name) for name in ("postgresql", "sqlite")}


async def _upsert_summaries(
    session: AsyncSession, dialect_name: str, rows: list[SpanRow], now: datetime
) -> None:
    # One statement for every trace of the batch; traces are unique within it.
    params = [s.values(now) for s in _summaries(rows)]
    await session.execute(_UPSERTS[dialect_name], params)
