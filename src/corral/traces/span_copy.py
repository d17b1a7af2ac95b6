"""PostgreSQL: write a batch of spans with binary `COPY`, storing each span once.

`COPY` cannot skip conflicting rows, so the batch is copied straight into `spans` inside a
savepoint (the common case: every span is new) and, when that hits a unique violation (an
exporter retry re-sending stored spans), rolled back and copied into a temporary staging table
from which `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` moves the new spans and names
them. `spans` is partitioned by day; `COPY` into the parent routes every row to its partition,
and the unique key includes `start_time`, as the conflict check needs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
import psycopg

from corral.traces.ingest import SpanRow

STAGING_TABLE = "corral_spans_staging"
COPY_COLUMNS = (
    "id", "org_id", "application_id", "trace_id", "span_id", "parent_span_id", "name", "kind",
    "category", "call_name", "start_time", "end_time", "duration_ms", "status",
    "status_message", "agent_name", "tool_name", "model", "provider", "end_user_id",
    "input_tokens", "output_tokens", "cost_usd", "attributes", "resource_attributes",
    "events", "created_at",
)  # fmt: skip
"""Every `spans` column, in the order of the records `_records` builds."""
_SAVEPOINT = "corral_spans_copy"
# psycopg types per `spans` column, in table order. Strings go as `text` whatever the column's
# varchar length (the binary format is the same); JSON goes as its encoded bytes (`bytea` sends
# them verbatim, which is the binary format of `json`).
_COPY_TYPES = {
    "duration_ms": "int8",
    "input_tokens": "int8",
    "output_tokens": "int8",
    "cost_usd": "numeric",
    "start_time": "timestamptz",
    "end_time": "timestamptz",
    "created_at": "timestamptz",
    "attributes": "bytea",
    "resource_attributes": "bytea",
    "events": "bytea",
}


def encode_json(value: Any) -> bytes:
    """JSON text as bytes: orjson, or the standard library for what orjson refuses
    (integers beyond 64 bits, which only `clean`ed JSON attribute values could hold)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False).encode()


def _records(rows: list[SpanRow], ids: list[str], now: datetime) -> list[tuple[Any, ...]]:
    shared: dict[int, bytes] = {}

    def json_bytes(value: Any) -> bytes:
        # Resource attributes are one object shared by the spans of a request: encoded once.
        key = id(value)
        data = shared.get(key)
        if data is None:
            data = shared[key] = encode_json(value)
        return data

    return [
        (
            span_id,
            r["org_id"],
            r["application_id"],
            r["trace_id"],
            r["span_id"],
            r["parent_span_id"],
            r["name"],
            r["kind"],
            r["category"],
            r["call_name"],
            r["start_time"],
            r["end_time"],
            r["duration_ms"],
            r["status"],
            r["status_message"],
            r["agent_name"],
            r["tool_name"],
            r["model"],
            r["provider"],
            r["end_user_id"],
            r["input_tokens"],
            r["output_tokens"],
            r["cost_usd"],
            encode_json(r["attributes"]),
            json_bytes(r["resource_attributes"]),
            encode_json(r["events"]),
            now,
        )
        for r, span_id in zip(rows, ids, strict=True)
    ]


async def _copy(cursor: Any, table: str, records: list[tuple[Any, ...]]) -> None:
    columns = COPY_COLUMNS
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    async with cursor.copy(statement) as copy:
        copy.set_types([_COPY_TYPES.get(c, "text") for c in columns])
        for record in records:
            await copy.write_row(record)


async def copy_new_spans(
    driver: Any, rows: list[SpanRow], ids: list[str], now: datetime
) -> list[SpanRow]:
    """Store `rows` (unique among themselves) on the psycopg connection `driver`, inside its
    open transaction; return the rows that were not stored before."""
    records = _records(rows, ids, now)
    async with driver.cursor() as cursor:
        await cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            await _copy(cursor, "spans", records)
        except psycopg.errors.UniqueViolation:
            await cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        else:
            await cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            return rows
        inserted = await _insert_via_staging(cursor, records)
    return [r for r, span_id in zip(rows, ids, strict=True) if span_id in inserted]


async def _insert_via_staging(cursor: Any, records: list[tuple[Any, ...]]) -> set[str]:
    columns = ", ".join(COPY_COLUMNS)
    # Temporary tables live per connection; ON COMMIT DELETE ROWS empties it after each batch.
    await cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} "
        "(LIKE spans INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await _copy(cursor, STAGING_TABLE, records)
    await cursor.execute(
        f"INSERT INTO spans ({columns}) SELECT {columns} FROM {STAGING_TABLE} "  # noqa: S608
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    inserted = {row[0] for row in await cursor.fetchall()}
    # A transaction may write several chunks: the next one starts from an empty table.
    await cursor.execute(f"DELETE FROM {STAGING_TABLE}")  # noqa: S608 - own name
    return inserted
