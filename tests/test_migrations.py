"""Migrations: no drift between models and migrations, idempotent upgrade, clean downgrade."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from corral.core.db import create_engine
from corral.core.migrations import (
    alembic_config,
    current_revisions,
    head_revisions,
    is_at_head,
    upgrade_to_head,
)
from corral.models import metadata
from tests.services import postgres_url


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a brand-new, empty database of each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    admin_url = postgres_url()
    # A database of our own: downgrading the shared test database would break other tests.
    name = f"corral_migrations_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(f"{base}/{name}")
    try:
        yield engine
    finally:
        await engine.dispose()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _partitions(connection: Connection) -> set[str]:
    """PostgreSQL partitions: created at runtime by the partition loop, not by the models."""
    if connection.dialect.name != "postgresql":
        return set()
    rows = connection.execute(text("SELECT relname FROM pg_class WHERE relispartition"))
    return {row[0] for row in rows}


def _drift(connection: Connection) -> list[Any]:
    partitions = _partitions(connection)

    def include_name(name: str | None, type_: str, _: Any) -> bool:
        return not (type_ == "table" and name in partitions)

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


async def drift(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_drift)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_tables)


def _downgrade_to_base(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


async def downgrade_to_base(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade_to_base)


MODEL_TABLES = {table.name for table in metadata.sorted_tables}


def test_migrations_have_a_single_head() -> None:
    assert len(head_revisions()) == 1


async def test_empty_database_is_not_at_head(empty_engine: AsyncEngine) -> None:
    assert await current_revisions(empty_engine) == set()
    assert not await is_at_head(empty_engine)


async def test_upgraded_schema_matches_the_models(empty_engine: AsyncEngine) -> None:
    await upgrade_to_head(empty_engine)
    assert await is_at_head(empty_engine)
    assert await current_revisions(empty_engine) == head_revisions()
    assert await tables(empty_engine) >= MODEL_TABLES
    assert await drift(empty_engine) == []


async def test_drift_check_detects_a_missing_table(empty_engine: AsyncEngine) -> None:
    """The drift comparison is live: an unmigrated schema is reported, table by table."""
    missing = {diff[1].name for diff in await drift(empty_engine) if diff[0] == "add_table"}
    assert missing == MODEL_TABLES


async def test_upgrade_is_idempotent(empty_engine: AsyncEngine) -> None:
    await upgrade_to_head(empty_engine)
    before = await tables(empty_engine)
    await upgrade_to_head(empty_engine)
    assert await is_at_head(empty_engine)
    assert await tables(empty_engine) == before
    assert await drift(empty_engine) == []


async def test_downgrade_to_base_then_upgrade_again(empty_engine: AsyncEngine) -> None:
    await upgrade_to_head(empty_engine)
    await downgrade_to_base(empty_engine)
    assert not await is_at_head(empty_engine)
    assert await current_revisions(empty_engine) == set()
    assert not (MODEL_TABLES & await tables(empty_engine))
    await upgrade_to_head(empty_engine)
    assert await is_at_head(empty_engine)
    assert await drift(empty_engine) == []


async def test_concurrent_upgrades_on_postgres_are_serialized() -> None:
    """Replicas booting together both succeed: the advisory lock makes the second a no-op."""
    admin_url = postgres_url()
    name = f"corral_migrations_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    engines = [create_engine(f"{base}/{name}") for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_to_head(engine) for engine in engines))
        assert all([await is_at_head(engine) for engine in engines])
        assert await drift(engines[0]) == []
    finally:
        for engine in engines:
            await engine.dispose()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _migrate_to(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def migrate_to(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: _migrate_to(c, revision, down=down))


_SPAN_ROWS = [
    {"id": "spn_1", "name": "café ☕", "start": "2024-01-01 00:00:00+00:00", "attrs": '{"a": [1]}'},
    {"id": "spn_2", "name": "tool.x", "start": "2024-03-05 12:30:00+00:00", "attrs": "{}"},
]


async def _span_rows(engine: AsyncEngine) -> list[tuple[str, str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, name, attributes FROM spans ORDER BY id"))
        return [(r[0], r[1], r[2] if isinstance(r[2], dict) else json.loads(r[2])) for r in rows]


async def test_rebuilding_spans_keeps_their_rows(empty_engine: AsyncEngine) -> None:
    """0005 rebuilds `spans` (partitioned on PostgreSQL); rows survive up and down."""
    await migrate_to(empty_engine, "0002")
    async with empty_engine.begin() as conn:
        now = "2024-01-01 00:00:00+00:00"
        await conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES ('org_1', 'o', :t)"),
            {"t": now},
        )
        await conn.execute(
            text(
                "INSERT INTO applications (id, org_id, name, description, is_default, created_at) "
                "VALUES ('app_1', 'org_1', 'a', '', true, :t)"
            ),
            {"t": now},
        )
        for row in _SPAN_ROWS:
            await conn.execute(
                text(
                    "INSERT INTO spans (id, org_id, application_id, trace_id, span_id, name, "
                    "kind, category, call_name, start_time, end_time, duration_ms, status, "
                    "status_message, attributes, resource_attributes, events, created_at) "
                    "VALUES (:id, 'org_1', 'app_1', :trace, 'bbbbbbbbbbbbbbbb', :name, "
                    "'internal', 'other', :name, :start, :start, 0, 'unset', '', :attrs, '{}', "
                    "'[]', :start)"
                ),
                {**row, "trace": row["id"][-1] * 32},
            )
    expected = [("spn_1", "café ☕", {"a": [1]}), ("spn_2", "tool.x", {})]
    assert await _span_rows(empty_engine) == expected

    await upgrade_to_head(empty_engine)
    assert await _span_rows(empty_engine) == expected
    if empty_engine.dialect.name == "postgresql":
        async with empty_engine.connect() as conn:
            partitioned = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'spans'::regclass"
                )
            )
            in_default = await conn.scalar(text("SELECT count(*) FROM spans_default"))
        assert (partitioned, in_default) == (1, 2)

    await migrate_to(empty_engine, "0002", down=True)
    assert await _span_rows(empty_engine) == expected
