"""Migrations: no drift between models and migrations, idempotent upgrade, clean downgrade."""

from __future__ import annotations

import asyncio
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
from sqlalchemy import Connection, inspect
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


def _drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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
