"""`corral config show`, `corral secrets generate` and `corral loops list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.cli.config import UNSET
from corral.cli.runtime import MASK, hide_url_password
from corral.core import secrets as server_secrets
from corral.core.loops import LoopRunner
from tests.cli.support import cli
from tests.conftest import TEST_SECRETS

SMTP_PASSWORD = "smtp-password-do-not-print"
DEV_KEY = "crl_dev_key_that_must_not_be_printed"
DB_PASSWORD = "db-password-do-not-print"


def _secret_fragments() -> list[str]:
    fragments = [SMTP_PASSWORD, DEV_KEY, DB_PASSWORD]
    for value in TEST_SECRETS.values():
        fragments.append(value)
        # The key part of `id:key` entries is the secret on its own.
        fragments.extend(part.partition(":")[2] for part in value.split(",") if ":" in part)
    return fragments


@pytest.fixture
def configured(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CORRAL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("CORRAL_SMTP_USERNAME", "mailer")
    monkeypatch.setenv("CORRAL_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("CORRAL_DEV_API_KEY", DEV_KEY)
    monkeypatch.setenv(
        "CORRAL_DATABASE_URL", f"postgresql://corral:{DB_PASSWORD}@db.example.com:5432/corral"
    )
    monkeypatch.setenv("CORRAL_REDIS_URL", f"redis://:{DB_PASSWORD}@cache:6379/0")
    return cli_env


def test_config_show_never_prints_a_secret(configured: Path) -> None:
    tree = cli("config show").stdout
    raw = cli("config show --json").stdout
    for output in (tree, raw):
        for fragment in _secret_fragments():
            assert fragment not in output
    data = json.loads(raw)
    security = data["security"]
    assert security["secret_keys"] == security["password_pepper"] == MASK
    assert security["secret_keys_file"] == UNSET
    assert data["smtp"]["password"] == MASK
    assert data["smtp"]["host"] == "smtp.example.com"
    assert data["auth"]["dev_api_key"] == MASK
    assert data["database_url"] == f"postgresql://corral:{MASK}@db.example.com:5432/corral"
    assert data["redis_url"] == f"redis://:{MASK}@cache:6379/0"
    assert data["rate_limit"]["burst"] == 200
    assert f"secret_keys: {MASK}" in tree
    assert "  burst: 200" in tree


def test_config_show_marks_unset_secrets(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_PASSWORD_PEPPER")
    data = json.loads(cli("config show --json").stdout)
    assert data["security"]["password_pepper"] == UNSET
    assert data["smtp"]["password"] == UNSET


def test_invalid_setting_exits_2_naming_it(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_RATE_LIMIT_BURST", "lots")
    result = cli("config show", code=2)
    assert "CORRAL_RATE_LIMIT_BURST" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "sqlite+aiosqlite:////var/lib/corral/corral.db",
            "sqlite+aiosqlite:////var/lib/corral/corral.db",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:p%40ss@h/db", f"postgresql://u:{MASK}@h/db"),
        ("postgresql://h/db?user=u&password=pw", f"postgresql://h/db?user=u&password={MASK}"),
    ],
)
def test_hide_url_password(url: str, shown: str) -> None:
    assert hide_url_password(url) == shown


def test_secrets_generate_prints_a_valid_fresh_set(cli_env: Path) -> None:
    first = cli("secrets generate").stdout
    second = cli("secrets generate").stdout
    assert first != second
    lines = first.splitlines()
    assert lines[0].startswith("#")
    assert any("secret" in line.lower() for line in lines if line.startswith("#"))
    values: dict[str, str | None] = {}
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        name, sep, value = line.partition("=")
        assert sep, line
        values[name] = value
    assert set(values) == set(TEST_SECRETS)
    parsed, problems = server_secrets.parse(values)
    assert problems == []
    assert parsed is not None


def test_loops_list_reports_registry_and_settings_without_starting(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse_to_start(self: LoopRunner) -> None:
        raise AssertionError("`corral loops list` must not start loops")

    monkeypatch.setattr(LoopRunner, "start", refuse_to_start)
    monkeypatch.setenv("CORRAL_LOOPS_DISABLED", "session_cleanup")
    loops = {loop["name"]: loop for loop in json.loads(cli("loops list --json").stdout)}
    assert {"database_probe", "session_cleanup", "idempotency_cleanup"} <= set(loops)
    assert loops["session_cleanup"]["enabled"] is False
    assert loops["session_cleanup"]["leader_only"] is True
    assert loops["database_probe"]["enabled"] is True
    assert loops["database_probe"]["leader_only"] is False
    assert all(loop["description"] for loop in loops.values())
    table = cli("loops list").stdout
    assert table.splitlines()[0].split()[:2] == ["NAME", "STATE"]
    assert any(
        line.startswith("session_cleanup") and "disabled" in line for line in table.splitlines()
    )


def test_loops_list_rejects_unknown_disabled_names(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_LOOPS_DISABLED", "no_such_loop")
    result = cli("loops list", code=2)
    assert "no_such_loop" in result.stderr
