"""Secrets: production refuses missing or weak ones; `…_FILE` variants; the dev fallback file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from corral.api.app import create_app
from corral.core import secrets as server_secrets
from corral.core.crypto import EncryptionKeyring
from corral.core.errors import ConfigError
from corral.core.settings import Settings
from tests.conftest import TEST_SECRETS, make_settings

FIX = "`corral secrets generate`"
SECRET_VARIABLES = (
    "CORRAL_SECRET_KEYS",
    "CORRAL_ENCRYPTION_KEYS",
    "CORRAL_AUDIT_HMAC_KEYS",
    "CORRAL_AUDIT_SIGNING_KEY",
    "CORRAL_PASSWORD_PEPPER",
)
FIELDS = {
    "CORRAL_SECRET_KEYS": "secret_keys",
    "CORRAL_ENCRYPTION_KEYS": "encryption_keys",
    "CORRAL_AUDIT_HMAC_KEYS": "audit_hmac_keys",
    "CORRAL_AUDIT_SIGNING_KEY": "audit_signing_key",
    "CORRAL_PASSWORD_PEPPER": "password_pepper",
}
NO_SECRETS: dict[str, Any] = dict.fromkeys(FIELDS.values())


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CORRAL_* variable or `.env` of the developer's machine leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CORRAL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _b64_key(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def _settings(data_dir: Path, *, env: str = "development", **security: Any) -> Settings:
    return make_settings(data_dir, None, env=env, security=security)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- production refuses missing and weak secrets ------------------------------------------

WEAK: list[tuple[str, dict[str, Any], str, str]] = [
    *((f"{variable} missing", {field: None}, variable, FIX) for variable, field in FIELDS.items()),
    *((f"{variable} empty", {field: ""}, variable, FIX) for variable, field in FIELDS.items()),
    ("short signing key", {"secret_keys": "too-short"}, "CORRAL_SECRET_KEYS", "≥32"),
    ("short second signing key", {"secret_keys": "s" * 40 + ",short"}, "CORRAL_SECRET_KEYS", "≥32"),
    ("short audit key", {"audit_hmac_keys": "a1:too-short"}, "CORRAL_AUDIT_HMAC_KEYS", "≥32"),
    ("short pepper", {"password_pepper": "p" * 31}, "CORRAL_PASSWORD_PEPPER", "≥32"),
    (
        "16-byte anchor signing key",
        {"audit_signing_key": _b64_key(16)},
        "CORRAL_AUDIT_SIGNING_KEY",
        "32 bytes",
    ),
    (
        "anchor signing key not base64",
        {"audit_signing_key": "not base64!"},
        "CORRAL_AUDIT_SIGNING_KEY",
        "base64",
    ),
    (
        "16-byte encryption key",
        {"encryption_keys": f"k1:{_b64_key(16)}"},
        "CORRAL_ENCRYPTION_KEYS",
        "32 bytes",
    ),
    (
        "64-byte encryption key",
        {"encryption_keys": f"k1:{_b64_key(64)}"},
        "CORRAL_ENCRYPTION_KEYS",
        "32 bytes",
    ),
    (
        "encryption key not base64",
        {"encryption_keys": "k1:not*base64*at*all"},
        "CORRAL_ENCRYPTION_KEYS",
        "base64",
    ),
    (
        "encryption key given raw",
        {"encryption_keys": "k1:" + "r" * 32 + "!"},
        "CORRAL_ENCRYPTION_KEYS",
        "base64",
    ),
    (
        "encryption entry without id",
        {"encryption_keys": _b64_key()},
        "CORRAL_ENCRYPTION_KEYS",
        "`id:key`",
    ),
    (
        "encryption entry with empty id",
        {"encryption_keys": f":{_b64_key()}"},
        "CORRAL_ENCRYPTION_KEYS",
        "`id:key`",
    ),
    (
        "second encryption entry malformed",
        {"encryption_keys": f"k1:{_b64_key()},k0"},
        "CORRAL_ENCRYPTION_KEYS",
        "`id:key`",
    ),
    (
        "encryption keyring of commas",
        {"encryption_keys": ",,"},
        "CORRAL_ENCRYPTION_KEYS",
        "no keys",
    ),
    ("audit entry without id", {"audit_hmac_keys": "a" * 40}, "CORRAL_AUDIT_HMAC_KEYS", "`id:key`"),
    (
        "audit entry with empty key",
        {"audit_hmac_keys": "a1:"},
        "CORRAL_AUDIT_HMAC_KEYS",
        "`id:key`",
    ),
]


@pytest.mark.parametrize(
    ("security", "variable", "fix"), [row[1:] for row in WEAK], ids=[row[0] for row in WEAK]
)
def test_production_refuses_to_boot_with_bad_secret(
    tmp_path: Path, security: dict[str, Any], variable: str, fix: str
) -> None:
    settings = _settings(tmp_path / "data", env="production", **security)
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    problems = refused.value.problems
    # Only the offending setting is reported (a lone malformed entry also leaves "no keys").
    assert problems
    assert all(p.startswith(variable) for p in problems), problems
    assert any(fix in p for p in problems), problems
    assert all(p in str(refused.value) for p in problems)
    assert not (tmp_path / "data").exists()


def test_production_names_every_missing_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="production", **NO_SECRETS)
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    problems = refused.value.problems
    assert len(problems) == len(SECRET_VARIABLES)
    for variable, problem in zip(SECRET_VARIABLES, problems, strict=True):
        assert problem.startswith(f"{variable} is not set")
        assert FIX in problem
        assert problem in str(refused.value)


def test_a_secret_is_never_echoed_in_the_refusal(tmp_path: Path) -> None:
    weak = "weak-but-private-value"
    settings = _settings(
        tmp_path,
        env="production",
        secret_keys=weak,
        password_pepper=weak,
        audit_hmac_keys=f"a:{weak}",
    )
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert len(refused.value.problems) == 3
    assert weak not in str(refused.value)


def test_production_refuses_signing_keys_without_any_key(tmp_path: Path) -> None:
    """Only commas is a ConfigError by name, not a bare ValueError from the Signer later."""
    settings = _settings(tmp_path, env="production", secret_keys=" , ")
    with pytest.raises(ConfigError, match="CORRAL_SECRET_KEYS: no keys given"):
        create_app(settings)


def test_production_refuses_encryption_key_id_the_ciphertext_cannot_carry(tmp_path: Path) -> None:
    """Ciphertexts are `v1.<kid>.<body>`: a '.' in a key id would make them undecryptable."""
    settings = _settings(tmp_path, env="production", encryption_keys=f"key.2026:{_b64_key()}")
    with pytest.raises(ConfigError, match="CORRAL_ENCRYPTION_KEYS: key id 'key.2026'"):
        server_secrets.check_boot(settings)


def test_an_accepted_encryption_keyring_round_trips(tmp_path: Path) -> None:
    """Whatever key ids production accepts, a ciphertext made with them decrypts again."""
    settings = _settings(tmp_path, env="production", encryption_keys=f"k-2026_a:{_b64_key()}")
    assert server_secrets.check_boot(settings) == []
    ring = EncryptionKeyring(server_secrets.resolve(settings).encryption_keys)
    assert ring.decrypt(ring.encrypt(b"payload", b"org_1"), b"org_1") == b"payload"


def test_production_refuses_duplicate_encryption_key_ids(tmp_path: Path) -> None:
    """With two keys of one id, the documented "first key encrypts" could not hold."""
    settings = _settings(
        tmp_path, env="production", encryption_keys=f"k1:{_b64_key()},k1:{_b64_key()}"
    )
    with pytest.raises(ConfigError, match="CORRAL_ENCRYPTION_KEYS: key id 'k1' appears twice"):
        server_secrets.check_boot(settings)


# --- parsing -------------------------------------------------------------------------------


def test_generated_secrets_parse_cleanly_and_differ_each_time() -> None:
    first, second = server_secrets.generate_env(), server_secrets.generate_env()
    assert set(first) == set(SECRET_VARIABLES)
    parsed, problems = server_secrets.parse(dict(first))
    assert problems == []
    assert parsed is not None
    assert all(first[name] != second[name] for name in SECRET_VARIABLES)


def test_parse_keeps_key_order_for_rotation() -> None:
    new, old = _b64_key(), _b64_key()
    values: dict[str, str | None] = {
        "CORRAL_SECRET_KEYS": f"{'n' * 32}, {'o' * 32}",
        "CORRAL_ENCRYPTION_KEYS": f"new:{new}, old:{old}",
        "CORRAL_AUDIT_HMAC_KEYS": f"a2:{'b' * 32},a1:{'a' * 32}",
        "CORRAL_AUDIT_SIGNING_KEY": base64.b64encode(b"s" * 32).decode(),
        "CORRAL_PASSWORD_PEPPER": "p" * 32,
    }
    parsed, problems = server_secrets.parse(values)
    assert problems == []
    assert parsed is not None
    assert parsed.signing_keys == (b"n" * 32, b"o" * 32)
    assert parsed.encryption_keys == (
        ("new", base64.b64decode(new)),
        ("old", base64.b64decode(old)),
    )
    assert parsed.audit_keys == (("a2", b"b" * 32), ("a1", b"a" * 32))
    assert parsed.password_pepper == b"p" * 32
    assert parsed.audit_signing_key == b"s" * 32


# --- secrets from files --------------------------------------------------------------------


def _write_secret_files(directory: Path, values: dict[str, str]) -> dict[str, Path]:
    paths = {}
    for variable, value in values.items():
        path = directory / variable.lower()
        # Trailing whitespace as editors and `echo` leave it must not become part of the secret.
        path.write_text(f"{value}\n", encoding="utf-8")
        paths[f"{FIELDS[variable]}_file"] = path
    return paths


def test_secrets_are_read_from_files_in_production(tmp_path: Path) -> None:
    values = server_secrets.generate_env()
    files = _write_secret_files(tmp_path, values)
    settings = _settings(tmp_path / "data", env="production", **NO_SECRETS, **files)
    assert server_secrets.check_boot(settings) == []
    resolved = server_secrets.resolve(settings)
    assert resolved.signing_keys == (values["CORRAL_SECRET_KEYS"].encode(),)
    assert resolved.password_pepper == values["CORRAL_PASSWORD_PEPPER"].encode()
    kid, key = values["CORRAL_ENCRYPTION_KEYS"].split(":", 1)
    assert resolved.encryption_keys == ((kid, base64.b64decode(key)),)
    audit_id, audit_key = values["CORRAL_AUDIT_HMAC_KEYS"].split(":", 1)
    assert resolved.audit_keys == ((audit_id, audit_key.encode()),)
    assert not (tmp_path / "data").exists()


def test_file_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = server_secrets.generate_env()
    files = _write_secret_files(tmp_path, values)
    for field, path in files.items():
        monkeypatch.setenv(f"CORRAL_{field.upper()}", str(path))
    settings = Settings(env="production", data_dir=tmp_path / "data")
    assert server_secrets.boot_problems(settings) == []
    assert (
        server_secrets.resolve(settings).password_pepper
        == values["CORRAL_PASSWORD_PEPPER"].encode()
    )


def test_unreadable_secret_file_is_refused_by_name(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, env="production", password_pepper=None, password_pepper_file=tmp_path / "absent"
    )
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert "CORRAL_PASSWORD_PEPPER_FILE" in str(refused.value)
    assert str(tmp_path / "absent") in str(refused.value)


def test_empty_file_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty `…_FILE` is not Path('.'): the directly given secret is used."""
    for name, value in server_secrets.generate_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CORRAL_SECRET_KEYS_FILE", "")
    settings = Settings(env="production", data_dir=tmp_path / "data")
    assert settings.security.secret_keys_file is None
    assert server_secrets.boot_problems(settings) == []
    signing = server_secrets.resolve(settings).signing_keys
    assert signing == (os.environ["CORRAL_SECRET_KEYS"].encode(),)


def test_weak_secret_in_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pepper").write_text("short\n", encoding="utf-8")
    settings = _settings(
        tmp_path, env="production", password_pepper=None, password_pepper_file=tmp_path / "pepper"
    )
    with pytest.raises(ConfigError, match="CORRAL_PASSWORD_PEPPER needs ≥32"):
        create_app(settings)


# --- development fallback file -------------------------------------------------------------


def test_development_generates_dev_secrets_file_once_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    with capture_logs() as logs:
        first = server_secrets.resolve(_settings(data_dir, **NO_SECRETS))
    path = data_dir / server_secrets.DEV_SECRETS_FILE
    assert path.is_file()
    assert _mode(path) == 0o600
    stored = dict(
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert set(stored) == set(SECRET_VARIABLES)
    assert first.password_pepper == stored["CORRAL_PASSWORD_PEPPER"].encode()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "secrets.development_fallback"
    ]
    content = path.read_bytes()
    # A second resolve (a restart) reuses the same values and leaves the file alone.
    again = server_secrets.resolve(_settings(data_dir, **NO_SECRETS))
    assert again == first
    assert path.read_bytes() == content


def test_development_uses_configured_secrets_and_fills_only_the_gaps(tmp_path: Path) -> None:
    pepper = "configured-pepper-" + "x" * 32
    resolved = server_secrets.resolve(
        _settings(tmp_path, **{**NO_SECRETS, "password_pepper": pepper})
    )
    assert resolved.password_pepper == pepper.encode()
    stored = (tmp_path / server_secrets.DEV_SECRETS_FILE).read_text(encoding="utf-8")
    assert resolved.signing_keys[0].decode() in stored


def test_development_with_all_secrets_writes_no_file(tmp_path: Path) -> None:
    resolved = server_secrets.resolve(make_settings(tmp_path, None))
    assert resolved.password_pepper == TEST_SECRETS["CORRAL_PASSWORD_PEPPER"].encode()
    assert not (tmp_path / server_secrets.DEV_SECRETS_FILE).exists()


def test_development_completes_a_partial_dev_secrets_file(tmp_path: Path) -> None:
    pepper = "kept-pepper-" + "k" * 32
    path = tmp_path / server_secrets.DEV_SECRETS_FILE
    path.write_text(f"# comment\nCORRAL_PASSWORD_PEPPER={pepper}\n", encoding="utf-8")
    path.chmod(0o600)
    resolved = server_secrets.resolve(_settings(tmp_path, **NO_SECRETS))
    assert resolved.password_pepper == pepper.encode()
    assert "CORRAL_SECRET_KEYS=" in path.read_text(encoding="utf-8")
    assert server_secrets.resolve(_settings(tmp_path, **NO_SECRETS)) == resolved


def test_completed_dev_secrets_file_is_private(tmp_path: Path) -> None:
    """A dev file Corral rewrites is made 0600 even if it existed with a wider mode."""
    path = tmp_path / server_secrets.DEV_SECRETS_FILE
    path.write_text("CORRAL_PASSWORD_PEPPER=" + "k" * 40 + "\n", encoding="utf-8")
    path.chmod(0o644)
    server_secrets.resolve(_settings(tmp_path, **NO_SECRETS))
    assert _mode(path) == 0o600


def test_development_does_not_paper_over_a_malformed_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, **{**NO_SECRETS, "encryption_keys": "no-colon-here"})
    with pytest.raises(ConfigError, match="CORRAL_ENCRYPTION_KEYS"):
        server_secrets.resolve(settings)
    assert not (tmp_path / server_secrets.DEV_SECRETS_FILE).exists()


def test_production_never_generates_or_reads_dev_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        server_secrets.resolve(_settings(tmp_path, env="production", **NO_SECRETS))
    assert not (tmp_path / server_secrets.DEV_SECRETS_FILE).exists()
    # Even a dev file left by an earlier development run is ignored in production.
    server_secrets.resolve(_settings(tmp_path, **NO_SECRETS))
    assert (tmp_path / server_secrets.DEV_SECRETS_FILE).exists()
    with pytest.raises(ConfigError) as refused:
        server_secrets.resolve(_settings(tmp_path, env="production", **NO_SECRETS))
    assert len(refused.value.problems) == len(SECRET_VARIABLES)


async def test_development_app_boots_without_configured_secrets(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, **NO_SECRETS))
    await app.state.container.aclose()
    assert (tmp_path / server_secrets.DEV_SECRETS_FILE).exists()
