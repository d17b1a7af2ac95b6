"""Apply and inspect Alembic migrations over the async engine."""

from __future__ import annotations

import functools
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

_log = structlog.get_logger(__name__)
_SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same for every replica running migrations.
_MIGRATION_LOCK_KEY = 0x636F7272616C


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    return config


@functools.cache
def _heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def head_revisions() -> set[str]:
    """The revisions this code expects; read from disk once, as they cannot change at runtime."""
    return set(_heads())


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas booting together would otherwise race to create the same tables.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def upgrade_to_head(engine: AsyncEngine) -> None:
    before = await current_revisions(engine)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    after = await current_revisions(engine)
    if after != before:
        _log.info("migrations.applied", from_revisions=sorted(before), to_revisions=sorted(after))


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_at_head(engine: AsyncEngine) -> bool:
    return await current_revisions(engine) == head_revisions()
