"""Settings: environment and `.env` names, and production's refusal of unsafe settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from corral.api.app import create_app
from corral.container import Container
from corral.core import secrets as server_secrets
from corral.core.errors import ConfigError
from corral.core.settings import Settings
from tests.clients import asgi_client
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CORRAL_* variable or `.env` of the developer's machine leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CORRAL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def production(tmp_path: Path, **overrides: Any) -> Settings:
    """A complete, correct production configuration, changed by `overrides`."""
    return make_settings(tmp_path / "data", None, env="production", **overrides)


async def _close(container: Container) -> None:
    await container.aclose()


# --- environment variable names ------------------------------------------------------------


def _secret(value: Any) -> Any:
    return value.get_secret_value() if value is not None else None


ENV_MAPPING: list[tuple[str, str, Callable[[Settings], Any], Any]] = [
    ("CORRAL_ENV", "production", lambda s: s.env, "production"),
    ("CORRAL_PORT", "9000", lambda s: s.port, 9000),
    ("CORRAL_DATA_DIR", "/srv/corral", lambda s: s.data_dir, Path("/srv/corral")),
    ("CORRAL_REDIS_URL", "redis://cache:6379/0", lambda s: s.redis_url, "redis://cache:6379/0"),
    ("CORRAL_AUTO_MIGRATE", "false", lambda s: s.auto_migrate, False),
    (
        "CORRAL_PUBLIC_URL",
        "https://corral.example.com",
        lambda s: s.public_url,
        "https://corral.example.com",
    ),
    (
        "CORRAL_TRUSTED_ORIGINS",
        "https://a.example, https://b.example,",
        lambda s: s.trusted_origins,
        ["https://a.example", "https://b.example"],
    ),
    ("CORRAL_TRUSTED_ORIGINS", "", lambda s: s.trusted_origins, []),
    ("CORRAL_TRUST_PROXY", "2", lambda s: s.trust_proxy, 2),
    ("CORRAL_RATE_LIMIT_BURST", "7", lambda s: s.rate_limit.burst, 7),
    ("CORRAL_RATE_LIMIT_ENABLED", "false", lambda s: s.rate_limit.enabled, False),
    (
        "CORRAL_RATE_LIMIT_REQUESTS_PER_SECOND",
        "2.5",
        lambda s: s.rate_limit.requests_per_second,
        2.5,
    ),
    ("CORRAL_LOG_FORMAT", "json", lambda s: s.log.format, "json"),
    ("CORRAL_LOG_LEVEL", "DEBUG", lambda s: s.log.level, "DEBUG"),
    (
        "CORRAL_LOOPS_DISABLED",
        "session_cleanup, idempotency_cleanup",
        lambda s: s.loops.disabled,
        ["session_cleanup", "idempotency_cleanup"],
    ),
    ("CORRAL_LOOPS_ENABLED", "false", lambda s: s.loops.enabled, False),
    ("CORRAL_LOOPS_LEADER_LEASE_SECONDS", "30", lambda s: s.loops.leader_lease_seconds, 30.0),
    ("CORRAL_SEED_DEV", "true", lambda s: s.auth.seed_dev, True),
    (
        "CORRAL_DEV_API_KEY",
        "crl_other_dev_key_value",
        lambda s: _secret(s.auth.dev_api_key),
        "crl_other_dev_key_value",
    ),
    ("CORRAL_ALLOW_SIGNUP", "false", lambda s: s.auth.allow_signup, False),
    ("CORRAL_SMTP_HOST", "smtp.example.com", lambda s: s.smtp.host, "smtp.example.com"),
    (
        "CORRAL_SMTP_FROM_ADDRESS",
        "corral@example.com",
        lambda s: s.smtp.from_address,
        "corral@example.com",
    ),
    ("CORRAL_SMTP_PASSWORD", "smtp-pass", lambda s: _secret(s.smtp.password), "smtp-pass"),
    ("CORRAL_SECRET_KEYS", "k" * 40, lambda s: _secret(s.security.secret_keys), "k" * 40),
    (
        "CORRAL_PASSWORD_PEPPER_FILE",
        "/run/secrets/pepper",
        lambda s: s.security.password_pepper_file,
        Path("/run/secrets/pepper"),
    ),
]


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    ENV_MAPPING,
    ids=[f"{row[0]}={row[1]!r}" for row in ENV_MAPPING],
)
def test_environment_variable_maps_to_setting(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    read: Callable[[Settings], Any],
    expected: Any,
) -> None:
    monkeypatch.setenv(variable, value)
    assert read(Settings()) == expected


@pytest.mark.parametrize(
    ("url", "effective"),
    [
        ("postgresql://corral:pw@db:5432/corral", "postgresql+psycopg://corral:pw@db:5432/corral"),
        ("postgres://corral@db/corral", "postgresql+psycopg://corral@db/corral"),
        ("postgresql+psycopg://corral@db/corral", "postgresql+psycopg://corral@db/corral"),
        ("sqlite:////var/lib/corral/corral.db", "sqlite+aiosqlite:////var/lib/corral/corral.db"),
    ],
)
def test_database_url_gets_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, url: str, effective: str
) -> None:
    monkeypatch.setenv("CORRAL_DATABASE_URL", url)
    settings = Settings()
    assert settings.database_url == url
    assert settings.effective_database_url == effective


def test_without_database_url_sqlite_lives_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path / "state"))
    assert Settings().effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/state/corral.db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CORRAL_RATE_LIMIT_BURST", "0"),
        ("CORRAL_LOG_FORMAT", "xml"),
        ("CORRAL_ENV", "staging"),
        ("CORRAL_PORT", "70000"),
    ],
)
def test_invalid_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_dotenv_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "CORRAL_ENV=production\n"
        "CORRAL_RATE_LIMIT_BURST=9\n"
        "CORRAL_LOG_FORMAT=json\n"
        "CORRAL_TRUSTED_ORIGINS=https://a.example,https://b.example\n"
        "CORRAL_LOOPS_DISABLED=session_cleanup\n"
        "CORRAL_SMTP_HOST=smtp.example.com\n"
        "CORRAL_PASSWORD_PEPPER=pepper-from-dotenv-0123456789abcdef\n"
        "CORRAL_DATABASE_URL=postgresql://corral@db/corral\n",
        encoding="utf-8",
    )
    settings = Settings()
    assert settings.env == "production"
    assert settings.rate_limit.burst == 9
    assert settings.log.format == "json"
    assert settings.trusted_origins == ["https://a.example", "https://b.example"]
    assert settings.loops.disabled == ["session_cleanup"]
    assert settings.smtp.host == "smtp.example.com"
    assert _secret(settings.security.password_pepper) == "pepper-from-dotenv-0123456789abcdef"
    assert settings.effective_database_url == "postgresql+psycopg://corral@db/corral"


def test_environment_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "CORRAL_RATE_LIMIT_BURST=9\nCORRAL_LOG_LEVEL=ERROR\n", encoding="utf-8"
    )
    monkeypatch.setenv("CORRAL_RATE_LIMIT_BURST", "3")
    settings = Settings()
    assert settings.rate_limit.burst == 3
    assert settings.log.level == "ERROR"


# --- production refuses unsafe settings ----------------------------------------------------

UNSAFE: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "http public URL",
        {"public_url": "http://corral.example.com"},
        "CORRAL_PUBLIC_URL",
        "https://",
    ),
    (
        "http private address",
        {"public_url": "http://10.0.0.5:4318"},
        "CORRAL_PUBLIC_URL",
        "https://",
    ),
    (
        "http look-alike host",
        {"public_url": "http://localhost.example.com"},
        "CORRAL_PUBLIC_URL",
        "https://",
    ),
    ("wildcard origin", {"trusted_origins": ["*"]}, "CORRAL_TRUSTED_ORIGINS", "exact origins"),
    (
        "wildcard among origins",
        {"trusted_origins": ["https://a.example", "*"]},
        "CORRAL_TRUSTED_ORIGINS",
        "exact origins",
    ),
    (
        "smtp host without sender",
        {"smtp": {"host": "smtp.example.com"}},
        "CORRAL_SMTP_FROM_ADDRESS",
        "also set",
    ),
    (
        "smtp sender without host",
        {"smtp": {"from_address": "corral@example.com"}},
        "CORRAL_SMTP_HOST",
        "also set",
    ),
    (
        "smtp username without password",
        {
            "smtp": {
                "host": "smtp.example.com",
                "from_address": "c@example.com",
                "username": "corral",
            }
        },
        "CORRAL_SMTP_PASSWORD",
        "also set",
    ),
    (
        "smtp password without username",
        {"smtp": {"host": "smtp.example.com", "from_address": "c@example.com", "password": "pw"}},
        "CORRAL_SMTP_USERNAME",
        "also set",
    ),
    (
        "smtp login without tls",
        {
            "smtp": {
                "host": "smtp.example.com",
                "from_address": "c@example.com",
                "username": "corral",
                "password": "pw",
                "tls": "none",
            }
        },
        "CORRAL_SMTP_TLS",
        "use starttls or tls",
    ),
    ("dev seeding", {"auth": {"seed_dev": True}}, "CORRAL_SEED_DEV", "must be false"),
]


@pytest.mark.parametrize(
    ("overrides", "setting", "fix"), [row[1:] for row in UNSAFE], ids=[row[0] for row in UNSAFE]
)
def test_production_refuses_to_boot_with_unsafe_setting(
    tmp_path: Path, overrides: dict[str, Any], setting: str, fix: str
) -> None:
    settings = production(tmp_path, **overrides)
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    # Exactly the one offending setting is reported, named, with what to do about it.
    assert len(refused.value.problems) == 1
    problem = refused.value.problems[0]
    assert setting in problem
    assert fix in problem
    assert problem in str(refused.value)
    # Refused before anything was built: not even the data directory exists.
    assert not (tmp_path / "data").exists()


def test_production_lists_every_problem_at_once(tmp_path: Path) -> None:
    settings = production(
        tmp_path,
        public_url="http://corral.example.com",
        trusted_origins=["*"],
        smtp={"host": "smtp.example.com"},
        auth={"seed_dev": True},
        security={"password_pepper": None},
    )
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    message = str(refused.value)
    for setting in (
        "CORRAL_PUBLIC_URL",
        "CORRAL_TRUSTED_ORIGINS",
        "CORRAL_SMTP_FROM_ADDRESS",
        "CORRAL_SEED_DEV",
        "CORRAL_PASSWORD_PEPPER",
    ):
        assert setting in message
    assert len(refused.value.problems) == 5


@pytest.mark.parametrize(
    "public_url",
    [
        "https://corral.example.com",
        "http://127.0.0.1:4318",
        "http://localhost:4318",
        "http://[::1]:4318",
    ],
)
async def test_production_allows_https_and_loopback_http(tmp_path: Path, public_url: str) -> None:
    settings = production(tmp_path, public_url=public_url)
    assert server_secrets.boot_problems(settings) == []
    app = create_app(settings)
    await _close(app.state.container)


async def test_production_allows_complete_smtp_and_exact_origins(tmp_path: Path) -> None:
    settings = production(
        tmp_path,
        trusted_origins=["https://app.example.com"],
        smtp={
            "host": "smtp.example.com",
            "from_address": "corral@example.com",
            "username": "corral",
            "password": "smtp-password",
        },
    )
    app = create_app(settings)
    await _close(app.state.container)


async def test_correct_production_config_boots_and_serves(tmp_path: Path) -> None:
    settings = production(tmp_path, public_url="https://corral.example.com")
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
    # Production never falls back to generated secrets.
    assert not (tmp_path / "data" / server_secrets.DEV_SECRETS_FILE).exists()


async def test_production_config_from_the_environment_boots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in server_secrets.generate_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CORRAL_ENV", "production")
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CORRAL_PUBLIC_URL", "https://corral.example.com")
    monkeypatch.setenv("CORRAL_LOOPS_ENABLED", "false")
    # Cheap hashing parameters keep the test fast; they are not what is being tested.
    monkeypatch.setenv("CORRAL_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("CORRAL_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("CORRAL_ARGON2_PARALLELISM", "1")
    app = create_app(Settings())
    await _close(app.state.container)
    monkeypatch.setenv("CORRAL_PUBLIC_URL", "http://corral.example.com")
    with pytest.raises(ConfigError, match="CORRAL_PUBLIC_URL"):
        create_app(Settings())


def test_empty_smtp_variables_count_as_unset_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Compose files write `${SMTP_HOST:-}`; empty must mean "email off", not "partly set"."""
    for name, value in server_secrets.generate_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CORRAL_ENV", "production")
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path / "data"))
    for name in ("CORRAL_SMTP_HOST", "CORRAL_SMTP_USERNAME", "CORRAL_SMTP_FROM_ADDRESS"):
        monkeypatch.setenv(name, "")
    assert server_secrets.boot_problems(Settings()) == []


async def test_development_warns_instead_of_refusing(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, None, public_url="http://corral.example.com", trusted_origins=["*"]
    )
    problems = server_secrets.check_boot(settings)
    assert any("CORRAL_PUBLIC_URL" in p for p in problems)
    assert any("CORRAL_TRUSTED_ORIGINS" in p for p in problems)
    with capture_logs() as logs:
        app = create_app(settings)
    await _close(app.state.container)
    warned = [e["problems"] for e in logs if e["event"] == "config.unsafe_for_production"]
    assert warned == [problems]  # once, listing every problem
    assert all(e["log_level"] == "warning" for e in logs if e["event"].startswith("config."))
