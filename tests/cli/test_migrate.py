"""`corral migrate`, and the refusal of every other command on an unmigrated database."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.core.migrations import head_revisions
from tests.cli.support import cli


def _head() -> str:
    return ", ".join(sorted(head_revisions()))


def test_migrate_is_idempotent(db_env: Path) -> None:
    for _ in range(2):
        result = cli("migrate")
        assert f"Already at revision {_head()}" in result.stdout
    cli("admin list-users")


def test_commands_refuse_an_unmigrated_database_until_migrate(cli_env: Path) -> None:
    for command in (
        "admin list-users",
        "admin reset-password --email a@example.com",
        "keys create --app app_x --scope apps:read",
    ):
        result = cli(command, code=1)
        assert "run `corral migrate` first" in result.stderr
    first = cli("migrate")
    assert f"from an empty database to revision {_head()}" in first.stdout
    assert f"Already at revision {_head()}" in cli("migrate").stdout
    assert cli("admin list-users --json").stdout.strip() == "[]"


def test_unreachable_database_is_a_clean_error(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on loopback refuses at once; the password must not leak into the message.
    monkeypatch.setenv("CORRAL_DATABASE_URL", "postgresql://corral:url-secret@127.0.0.1:1/corral")
    for command in ("migrate", "admin list-users"):
        result = cli(command, code=1)
        assert "database error" in result.stderr
        assert "url-secret" not in result.stderr
        assert "Traceback" not in result.stderr
