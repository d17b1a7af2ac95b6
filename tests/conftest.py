"""Shared fixtures: real databases with cheap isolation, the app, and HTTP clients.

Every API test runs against SQLite and, when `CORRAL_TEST_POSTGRES_URL` is set, PostgreSQL.
SQLite: each test gets a copy of a database migrated once per session. PostgreSQL: one migrated
database per xdist worker, truncated after each test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from corral.api.app import create_app
from corral.core import secrets as server_secrets
from corral.core.db import create_engine
from corral.core.logging import configure as configure_logging
from corral.core.migrations import upgrade_to_head
from corral.core.settings import LogSettings, Settings
from corral.models import metadata
from tests.clients import ApiClient, asgi_client
from tests.services import postgres_url

TEST_SECRETS = server_secrets.generate_env()


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    """Route logs through Corral's own configuration, as a server process would."""
    configure_logging(LogSettings())


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def make_settings(data_dir: Path, database_url: str | None, **overrides: Any) -> Settings:
    """Settings for a test: explicit secrets, cheap Argon2, quiet background work."""
    values: dict[str, Any] = {
        "env": "development",
        "data_dir": data_dir,
        "database_url": database_url,
        "redis_url": None,
        "public_url": "http://127.0.0.1:4318",
        "security": {
            "secret_keys": TEST_SECRETS["CORRAL_SECRET_KEYS"],
            "encryption_keys": TEST_SECRETS["CORRAL_ENCRYPTION_KEYS"],
            "audit_hmac_keys": TEST_SECRETS["CORRAL_AUDIT_HMAC_KEYS"],
            "audit_signing_key": TEST_SECRETS["CORRAL_AUDIT_SIGNING_KEY"],
            "password_pepper": TEST_SECRETS["CORRAL_PASSWORD_PEPPER"],
        },
        "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1},
        "rate_limit": {"enabled": False},
        "loops": {"enabled": False},
        # Runs stay queued unless a test starts a worker: executing needs sandboxes.
        "runs": {"worker_in_server": False, "sidecar_pool_size": 0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings.model_validate(values)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def migrate_blocking(url: str) -> None:
    """Migrate from synchronous code, even when an event loop is already running there."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _migrate(url)).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "corral.db"
    migrate_blocking(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A migrated PostgreSQL database for this worker; yields its SQLAlchemy URL."""
    admin_url = postgres_url()
    name = f"corral_test_{_worker()}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    migrate_blocking(url)
    yield url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            # The audit tables' triggers refuse TRUNCATE; a replica session fires no triggers.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A clean, migrated database, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "corral.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_database")
    try:
        yield url
    finally:
        await _truncate(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[ApiClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
async def owner(app: FastAPI) -> AsyncIterator[ApiClient]:
    """A signed-in user who owns a fresh organization."""
    async with asgi_client(app) as c:
        await c.register("owner@example.com", org="Acme")
        yield c


@pytest.fixture
async def stranger(app: FastAPI) -> AsyncIterator[ApiClient]:
    """A signed-in user of another organization: every attempt to reach Acme must fail."""
    async with asgi_client(app) as c:
        await c.register("stranger@example.org", org="Other Corp")
        yield c
