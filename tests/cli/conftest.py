"""Environment for CLI tests: the CLI reads `CORRAL_*` variables like it would in production."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from corral.core.settings import get_settings
from tests.conftest import TEST_SECRETS

CHEAP_ARGON2 = {
    "CORRAL_ARGON2_TIME_COST": "1",
    "CORRAL_ARGON2_MEMORY_KIB": "64",
    "CORRAL_ARGON2_PARALLELISM": "1",
}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # The CLI configures process-wide logging; other tests in this process must not inherit it.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A clean CLI environment over SQLite in `tmp_path` (not migrated); yields the data dir."""
    for name in list(os.environ):
        if name.startswith("CORRAL_") and not name.startswith("CORRAL_TEST_"):
            monkeypatch.delenv(name)
    # Settings also read `.env` from the working directory.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path))
    for name, value in {**TEST_SECRETS, **CHEAP_ARGON2}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def db_env(cli_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI environment pointed at the migrated test database (SQLite, then PostgreSQL)."""
    monkeypatch.setenv("CORRAL_DATABASE_URL", database_url)
    get_settings.cache_clear()
    return cli_env
