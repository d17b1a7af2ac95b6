"""Parsing, checking and generating the server's secrets.

Secrets come from the environment or files, never from the database. In development a missing
secret is generated once into `<data_dir>/dev-secrets.env` (mode 0600) so restarts keep working;
production refuses to boot instead (`check_boot`).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import SecretStr

from corral.core.errors import ConfigError
from corral.core.settings import Settings

MIN_SECRET_CHARS = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ENCRYPTION_KEY_BYTES = 32
ED25519_SEED_BYTES = 32
DEV_SECRETS_FILE = "dev-secrets.env"

_log = structlog.get_logger(__name__)

_SECRET_NAMES = {
    "secret_keys": "CORRAL_SECRET_KEYS",
    "encryption_keys": "CORRAL_ENCRYPTION_KEYS",
    "audit_hmac_keys": "CORRAL_AUDIT_HMAC_KEYS",
    "audit_signing_key": "CORRAL_AUDIT_SIGNING_KEY",
    "password_pepper": "CORRAL_PASSWORD_PEPPER",
}


@dataclass(frozen=True, slots=True)
class ServerSecrets:
    """The parsed secrets the services use."""

    signing_keys: tuple[bytes, ...]
    encryption_keys: tuple[tuple[str, bytes], ...]
    audit_keys: tuple[tuple[str, bytes], ...]
    password_pepper: bytes
    # The 32-byte Ed25519 seed that signs audit anchors.
    audit_signing_key: bytes


def generate_env() -> dict[str, str]:
    """A complete fresh set of secrets, keyed by environment variable name."""
    kid = "k" + secrets.token_hex(3)
    return {
        "CORRAL_SECRET_KEYS": secrets.token_urlsafe(48),
        "CORRAL_ENCRYPTION_KEYS": f"{kid}:{base64.b64encode(os.urandom(32)).decode()}",
        "CORRAL_AUDIT_HMAC_KEYS": f"a{secrets.token_hex(3)}:{secrets.token_urlsafe(48)}",
        "CORRAL_AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(ED25519_SEED_BYTES)).decode(),
        "CORRAL_PASSWORD_PEPPER": secrets.token_urlsafe(48),
    }


def _raw_values(settings: Settings) -> dict[str, str | None]:
    sec = settings.security
    values: dict[str, str | None] = {}
    for field, env_name in _SECRET_NAMES.items():
        direct: SecretStr | None = getattr(sec, field)
        path: Path | None = getattr(sec, f"{field}_file")
        if path is not None:
            try:
                values[env_name] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError([f"{env_name}_FILE: cannot read {path}: {exc.strerror}"]) from exc
        else:
            values[env_name] = direct.get_secret_value() if direct is not None else None
    return values


def _pairs(env_name: str, raw: str, problems: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        kid, sep, value = item.partition(":")
        if not sep or not kid or not value:
            problems.append(
                f"{env_name}: each entry must look like `id:key` (got an entry without ':')"
            )
            continue
        # Key ids travel inside ciphertexts and audit rows, so they must be short and plain.
        if not _KEY_ID.match(kid):
            problems.append(f"{env_name}: key id {kid!r} must be 1–32 of A–Z a–z 0–9 _ -")
            continue
        if any(kid == seen for seen, _ in pairs):
            problems.append(f"{env_name}: key id {kid!r} appears twice")
            continue
        pairs.append((kid, value))
    if not pairs:
        problems.append(f"{env_name}: no keys given")
    return pairs


_FIX = "generate a set with `corral secrets generate`"


def _signing_keys(raw: str, problems: list[str]) -> list[bytes]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        problems.append(f"CORRAL_SECRET_KEYS: no keys given ({_FIX})")
    if any(len(k) < MIN_SECRET_CHARS for k in keys):
        problems.append(
            f"CORRAL_SECRET_KEYS: every key needs ≥{MIN_SECRET_CHARS} characters ({_FIX})"
        )
    return [k.encode() for k in keys]


def _encryption_keys(raw: str, problems: list[str]) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for kid, b64 in _pairs("CORRAL_ENCRYPTION_KEYS", raw, problems):
        try:
            key = base64.b64decode(b64, validate=True)
        except binascii.Error:
            problems.append(f"CORRAL_ENCRYPTION_KEYS: key {kid!r} is not valid base64 ({_FIX})")
            continue
        if len(key) != ENCRYPTION_KEY_BYTES:
            problems.append(
                f"CORRAL_ENCRYPTION_KEYS: key {kid!r} must decode to "
                f"{ENCRYPTION_KEY_BYTES} bytes ({_FIX})"
            )
        keys.append((kid, key))
    return keys


def _audit_keys(raw: str, problems: list[str]) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for kid, key in _pairs("CORRAL_AUDIT_HMAC_KEYS", raw, problems):
        if len(key) < MIN_SECRET_CHARS:
            problems.append(
                f"CORRAL_AUDIT_HMAC_KEYS: key {kid!r} needs ≥{MIN_SECRET_CHARS} characters ({_FIX})"
            )
        keys.append((kid, key.encode()))
    return keys


def _anchor_signing_key(raw: str, problems: list[str]) -> bytes:
    try:
        seed = base64.b64decode(raw.strip(), validate=True)
    except binascii.Error:
        problems.append(f"CORRAL_AUDIT_SIGNING_KEY is not valid base64 ({_FIX})")
        return b""
    if len(seed) != ED25519_SEED_BYTES:
        problems.append(
            f"CORRAL_AUDIT_SIGNING_KEY must decode to {ED25519_SEED_BYTES} bytes "
            f"(an Ed25519 seed; {_FIX})"
        )
    return seed


def parse(values: Mapping[str, str | None]) -> tuple[ServerSecrets | None, list[str]]:
    """Parse the raw values; returns the secrets (if complete) and every problem found."""
    problems: list[str] = []
    missing = [name for name, value in values.items() if not value]
    problems.extend(f"{name} is not set ({_FIX})" for name in missing)
    raw_signing = values.get("CORRAL_SECRET_KEYS")
    raw_encryption = values.get("CORRAL_ENCRYPTION_KEYS")
    raw_audit = values.get("CORRAL_AUDIT_HMAC_KEYS")
    signing = _signing_keys(raw_signing, problems) if raw_signing else []
    encryption = _encryption_keys(raw_encryption, problems) if raw_encryption else []
    audit = _audit_keys(raw_audit, problems) if raw_audit else []
    raw_anchor = values.get("CORRAL_AUDIT_SIGNING_KEY")
    anchor_key = _anchor_signing_key(raw_anchor, problems) if raw_anchor else b""
    pepper = values.get("CORRAL_PASSWORD_PEPPER") or ""
    if pepper and len(pepper) < MIN_SECRET_CHARS:
        problems.append(f"CORRAL_PASSWORD_PEPPER needs ≥{MIN_SECRET_CHARS} characters ({_FIX})")
    if problems:
        return None, problems
    parsed = ServerSecrets(
        tuple(signing), tuple(encryption), tuple(audit), pepper.encode(), anchor_key
    )
    return parsed, problems


def _load_or_create_dev_file(settings: Settings) -> dict[str, str]:
    path = settings.data_dir / DEV_SECRETS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                stored[name.strip()] = value.strip()
    fresh = generate_env()
    if any(name not in stored for name in fresh):
        stored = {**fresh, **stored}
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # The mode given to open() applies only on creation; an older file may be wider open.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("# Generated for development by Corral. Never use in production.\n")
            handle.writelines(f"{name}={value}\n" for name, value in stored.items())
    return stored


def resolve(settings: Settings) -> ServerSecrets:
    """The secrets to run with: configured ones, else (development only) generated dev ones."""
    values = _raw_values(settings)
    secrets_, problems = parse(values)
    if secrets_ is not None:
        return secrets_
    if settings.is_production:
        raise ConfigError(problems)
    malformed = [p for p in problems if "is not set" not in p]
    if malformed:
        raise ConfigError(malformed)
    dev = _load_or_create_dev_file(settings)
    merged = {name: value or dev[name] for name, value in values.items()}
    secrets_, problems = parse(merged)
    if secrets_ is None:
        raise ConfigError(problems)
    _log.warning(
        "secrets.development_fallback",
        missing=sorted(name for name, value in values.items() if not value),
        file=str(settings.data_dir / DEV_SECRETS_FILE),
        hint="set real secrets (corral secrets generate) before production",
    )
    return secrets_


def boot_problems(settings: Settings) -> list[str]:
    """Settings that production refuses, each naming the setting and the fix."""
    problems: list[str] = []
    _, secret_problems = parse(_raw_values(settings))
    problems.extend(secret_problems)
    if not settings.public_url_is_secure:
        problems.append(
            f"CORRAL_PUBLIC_URL={settings.public_url!r} must use https:// "
            "(plain http is only allowed for loopback addresses)"
        )
    if "*" in settings.trusted_origins:
        problems.append("CORRAL_TRUSTED_ORIGINS must list exact origins, not '*'")
    missing_smtp = settings.smtp.missing_for_complete_config()
    if missing_smtp:
        problems.append(
            "SMTP is partly configured: also set "
            + ", ".join(missing_smtp)
            + " (or unset every CORRAL_SMTP_* setting)"
        )
    if settings.smtp.password_in_clear:
        problems.append(
            "CORRAL_SMTP_TLS=none would send CORRAL_SMTP_PASSWORD unencrypted to "
            f"{settings.smtp.host!r}: use starttls or tls (plain SMTP only to a loopback relay)"
        )
    if settings.auth.seed_dev:
        problems.append(
            "CORRAL_SEED_DEV must be false in production (it seeds a publicly known key)"
        )
    if settings.tools.allow_private_targets:
        problems.append(
            "CORRAL_TOOLS_ALLOW_PRIVATE_TARGETS must be false in production "
            "(it lets agents reach internal addresses)"
        )
    if settings.webhooks.allow_private_targets:
        problems.append(
            "CORRAL_WEBHOOKS_ALLOW_PRIVATE_TARGETS must be false in production "
            "(it lets webhooks reach internal addresses)"
        )
    return problems


def check_boot(settings: Settings) -> list[str]:
    """Raise in production on unsafe settings; in development return them as warnings."""
    problems = boot_problems(settings)
    if problems and settings.is_production:
        raise ConfigError(problems)
    return problems
