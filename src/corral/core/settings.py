"""The typed settings tree, read from `CORRAL_*` environment variables and `.env`.

Read through `get_settings()` (or build `Settings(...)` in tests); nothing reads the environment
at import time. Each section is its own `BaseSettings` so that its variables keep flat names
(`CORRAL_RATE_LIMIT_BURST`) while the code sees a tree (`settings.rate_limit.burst`).
"""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from corral.core.run_limits import InlineRunLimits, PlatformRunLimits

Environment = Literal["development", "production"]


def _section(prefix: str) -> SettingsConfigDict:
    # Empty variables count as unset: compose files write `${SMTP_HOST:-}` for "not configured".
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
    )


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SecuritySettings(BaseSettings):
    """Secrets. Each may instead be given as a path in the matching `…_FILE` variable."""

    model_config = _section("CORRAL_")

    secret_keys: SecretStr | None = Field(
        None,
        description="Comma list of signing keys (≥32 chars each); the first signs, all verify.",
    )
    secret_keys_file: Path | None = Field(None, description="File holding CORRAL_SECRET_KEYS.")
    encryption_keys: SecretStr | None = Field(
        None,
        description="AES-256-GCM keyring `kid:base64key,…` (32-byte keys); the first encrypts.",
    )
    encryption_keys_file: Path | None = Field(None, description="File holding the keyring.")
    audit_hmac_keys: SecretStr | None = Field(
        None, description="Audit chain keys `id:key,…` (≥32 chars each); the first signs."
    )
    audit_hmac_keys_file: Path | None = Field(None, description="File holding the audit keys.")
    audit_signing_key: SecretStr | None = Field(
        None,
        description="Ed25519 private key (base64 of its 32-byte seed) that signs audit anchors.",
    )
    audit_signing_key_file: Path | None = Field(
        None, description="File holding CORRAL_AUDIT_SIGNING_KEY."
    )
    password_pepper: SecretStr | None = Field(
        None, description="Secret (≥32 chars) mixed into every password hash."
    )
    password_pepper_file: Path | None = Field(None, description="File holding the pepper.")


class AuthSettings(BaseSettings):
    model_config = _section("CORRAL_")

    allow_signup: bool = Field(
        True,
        description="Let anyone register (each sign-up gets its own organization). When false, "
        "only the first user and invited users may register.",
    )
    session_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="Lifetime of a dashboard/API session."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Consecutive failed logins before the account is locked."
    )
    login_lockout_seconds: int = Field(
        900, ge=1, description="How long an account stays locked after too many failures."
    )
    password_min_length: int = Field(12, ge=8, description="Shortest accepted password.")
    argon2_time_cost: int = Field(3, ge=1, description="Argon2id iterations.")
    argon2_memory_kib: int = Field(65536, ge=8, description="Argon2id memory in KiB.")
    argon2_parallelism: int = Field(4, ge=1, description="Argon2id lanes.")
    api_key_rotation_grace_seconds: int = Field(
        86400, ge=0, description="How long a rotated API key keeps working beside its successor."
    )
    seed_dev: bool = Field(
        False,
        description="Seed a dev org, owner and the well-known dev API key at boot "
        "(refused in production).",
    )
    dev_api_key: SecretStr = Field(
        SecretStr("crl_dev_local_do_not_use_in_production"),
        description="The API key seeded by CORRAL_SEED_DEV.",
    )
    dev_owner_email: str = Field("dev@corral.local", description="Owner seeded by SEED_DEV.")
    password_reset_ttl_seconds: int = Field(
        3600, ge=60, le=7 * 86400, description="Lifetime of a password-reset link."
    )
    password_reset_per_hour: int = Field(
        10,
        ge=1,
        description="Password-reset requests accepted per client address per hour (and "
        "emails sent per account per hour); beyond, 429 per address, silence per account.",
    )
    invitation_ttl_seconds: int = Field(
        7 * 86400, ge=3600, le=90 * 86400, description="Lifetime of an invitation link."
    )
    mfa_challenge_ttl_seconds: int = Field(
        300,
        ge=30,
        le=3600,
        description="How long the token of a sign-in waiting for its second factor lasts.",
    )


class RateLimitSettings(BaseSettings):
    model_config = _section("CORRAL_RATE_LIMIT_")

    enabled: bool = Field(True, description="Token-bucket rate limiting per identity.")
    requests_per_second: float = Field(100.0, gt=0, description="Sustained refill rate.")
    burst: int = Field(200, ge=1, description="Bucket capacity: the largest momentary burst.")


class LogSettings(BaseSettings):
    model_config = _section("CORRAL_LOG_")

    format: Literal["json", "text"] = Field("text", description="One JSON object or text per line.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


SmtpTls = Literal["none", "starttls", "tls"]


class SmtpSettings(BaseSettings):
    """Outgoing email. All or none: a partial set refuses production and warns in development."""

    model_config = _section("CORRAL_SMTP_")

    host: str | None = Field(None, description="SMTP server; leave unset to disable email.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 starttls, 465 tls).")
    username: str | None = Field(None, description="SMTP user.")
    password: SecretStr | None = Field(None, description="SMTP password.")
    from_address: str | None = Field(None, description="Sender address of outgoing mail.")
    tls: SmtpTls = Field(
        "starttls",
        description="`starttls` (upgrade a plain connection, port 587), `tls` (TLS from the "
        "first byte, port 465) or `none` (plain text: local relays only).",
    )
    ca_file: Path | None = Field(
        None, description="PEM file of the CA(s) to verify the SMTP server with (default: system)."
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Longest wait for the SMTP server at each step."
    )

    @property
    def configured(self) -> bool:
        """Whether email can be sent: a host and a sender, with a complete login if any."""
        return self.host is not None and not self.missing_for_complete_config()

    @property
    def password_in_clear(self) -> bool:
        """A login over an unencrypted connection to a host other than loopback."""
        return (
            self.tls == "none"
            and self.password is not None
            and self.host is not None
            and not _is_loopback(self.host)
        )

    def missing_for_complete_config(self) -> list[str]:
        """Names of the settings still needed once any SMTP setting is given."""
        given = [self.host, self.username, self.password, self.from_address]
        if not any(v is not None for v in given):
            return []
        missing = []
        if not self.host:
            missing.append("CORRAL_SMTP_HOST")
        if not self.from_address:
            missing.append("CORRAL_SMTP_FROM_ADDRESS")
        if (self.username is None) != (self.password is None):
            missing.append(
                "CORRAL_SMTP_PASSWORD" if self.password is None else "CORRAL_SMTP_USERNAME"
            )
        return missing


class LoopSettings(BaseSettings):
    model_config = _section("CORRAL_LOOPS_")

    enabled: bool = Field(True, description="Run background loops in this process at all.")
    disabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma list of loop names not to run in this process."
    )
    leader_lease_seconds: float = Field(
        15.0, gt=0, description="How long a leader's lock lasts without renewal (Redis backend)."
    )

    _split = field_validator("disabled", mode="before")(_split_commas)


class TelemetrySettings(BaseSettings):
    """Trace ingest: sampling and retention (applications may override both through the API)."""

    model_config = _section("CORRAL_")

    sampling_rate: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Fraction of traces kept at ingest (deterministic per trace id). Error spans, "
        "spans carrying a policy decision and spans above the token threshold are always kept.",
    )
    sampling_token_threshold: int = Field(
        5000,
        ge=0,
        description="Spans whose total token count is above this are always kept by sampling.",
    )
    trace_retention_days: int = Field(
        30, ge=0, le=36500, description="Days spans and traces are kept; 0 keeps them forever."
    )
    decision_retention_days: int = Field(
        365,
        ge=0,
        le=36500,
        description="Days policy decision evidence is kept; 0 keeps it forever.",
    )
    ingest_settings_cache_seconds: float = Field(
        5.0,
        ge=0.0,
        le=3600.0,
        description="How long a replica uses an application's cached ingest settings before "
        "checking their revision again (changes made on the same replica apply at once).",
    )


class RunSettings(BaseSettings):
    """Hosted runs: limits, workers, the sidecar pool."""

    model_config = _section("CORRAL_")

    platform_run_limits: PlatformRunLimits = Field(
        default_factory=PlatformRunLimits,
        description="JSON object of platform run limits; unknown keys fail boot.",
    )
    inline_run_limits: InlineRunLimits = Field(
        default_factory=InlineRunLimits,
        description="JSON object of inline run limits; unknown keys fail boot.",
    )
    worker_in_server: bool = Field(
        True, description="Run a run worker inside `corral serve` (the embedded tier's worker)."
    )
    worker_concurrency: int = Field(4, ge=1, le=256, description="Runs a worker executes at once.")
    run_lease_seconds: float = Field(
        30.0, ge=2.0, le=3600.0, description="How long a claimed run is a worker's without renewal."
    )
    sidecar_pool_size: int = Field(
        1,
        ge=0,
        le=64,
        description="Sandboxes with their sidecar kept started and ready for the next run.",
    )


class SandboxSettings(BaseSettings):
    """How hosted runs are isolated."""

    model_config = _section("CORRAL_")

    run_adapter: Literal["bubblewrap", "process", "docker"] | None = Field(
        None,
        description="Sandbox of hosted runs: `bubblewrap`, `process` (no isolation, development "
        "only) or `docker`. Unset: bubblewrap where it works, else process with a warning.",
    )
    docker_image: str = Field(
        "python:3.11-slim-bookworm",
        description="Image of the run containers of the docker adapter.",
    )


ProviderApi = Literal["openai-chat", "anthropic-messages"]
PROVIDER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"


class SystemProvider(BaseModel):
    """A model provider every application may use, its key held by the operator."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: str = Field(pattern=PROVIDER_ID_PATTERN)
    label: str = Field("", max_length=200)
    api: ProviderApi
    base_url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://[^/?#@]+")
    api_key: SecretStr = Field(min_length=1)
    models: tuple[str, ...] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # `scripted` is the offline provider; `prov_…` is the shape of an application's own.
        if value == "scripted" or value.startswith("prov_"):
            raise ValueError(f"{value!r} is reserved")
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def _system_providers(value: object) -> object:
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
    if isinstance(value, list | tuple):
        ids = [
            item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
            for item in value
        ]
        duplicates = sorted({str(i) for i in ids if i is not None and ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"provider ids must be unique: {', '.join(duplicates)} repeated")
    return value


class AuditSettings(BaseSettings):
    """The audit log's signed Merkle anchors."""

    model_config = _section("CORRAL_AUDIT_")

    anchor_interval_seconds: float = Field(
        60.0,
        ge=1.0,
        le=86400.0,
        description="How often the `audit_anchor` loop seals new audit events of each chain "
        "under a signed Merkle root.",
    )
    anchor_max_events: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Most events one anchor covers; a longer backlog gets several anchors.",
    )


class ToolSettings(BaseSettings):
    """Hosted agents' `http` tools, performed by the run's sidecar through the egress guard."""

    model_config = _section("CORRAL_TOOLS_")

    allow_private_targets: bool = Field(
        False,
        description="Let tools (and other outgoing requests) reach private, loopback, "
        "link-local and other non-public addresses; cloud metadata addresses stay refused. "
        "Development only: refused in production.",
    )
    connect_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Longest wait to connect to a tool's server."
    )
    read_timeout_seconds: float = Field(
        30.0, gt=0, le=3600, description="Longest wait for the next bytes of a tool's response."
    )
    total_timeout_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest a tool request may take, redirects included."
    )
    max_response_bytes: int = Field(
        1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="Bytes of a tool's response body kept; the rest is cut off.",
    )


class WebhookSettings(BaseSettings):
    """Outgoing webhooks: where they may go, how long each attempt may take, how often to retry."""

    model_config = _section("CORRAL_WEBHOOKS_")

    allow_private_targets: bool = Field(
        False,
        description="Let webhook endpoints be private, loopback or link-local addresses "
        "(cloud metadata addresses stay refused). Development only: refused in production.",
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Longest a delivery attempt may take, end to end."
    )
    max_attempts: int = Field(
        8, ge=1, le=50, description="Attempts before a delivery is dead-lettered."
    )
    backoff_base_seconds: float = Field(
        5.0, gt=0, le=3600, description="Wait before the second attempt; doubled each time."
    )
    backoff_max_seconds: float = Field(
        6 * 3600.0, gt=0, le=7 * 86400, description="Longest wait between two attempts."
    )
    concurrency: int = Field(
        8, ge=1, le=256, description="Deliveries one replica sends at the same time."
    )
    secret_overlap_seconds: int = Field(
        86400,
        ge=0,
        le=30 * 86400,
        description="After a secret rotation, how long the previous secret keeps signing too "
        "(unless the rotation names its own overlap).",
    )


class Settings(BaseSettings):
    """The root of the tree."""

    # Hidden inputs: a refused CORRAL_SYSTEM_PROVIDER_KEYS would otherwise echo its keys.
    model_config = SettingsConfigDict(**_section("CORRAL_"), hide_input_in_errors=True)

    env: Environment = Field("development", description="`production` enforces safe settings.")
    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(4318, ge=1, le=65535, description="The one port for API, dashboard, OTLP.")
    data_dir: Path = Field(Path("data"), description="Where the embedded tier keeps its files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite under the data directory when unset."
    )
    redis_url: str | None = Field(
        None, description="Redis for shared rate limits and locks across replicas."
    )
    auto_migrate: bool = Field(True, description="Apply database migrations at boot.")
    public_url: str = Field(
        "http://127.0.0.1:4318", description="The URL users reach Corral at (https in production)."
    )
    trusted_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma list of exact origins allowed by CORS."
    )
    trust_proxy: int = Field(
        0, ge=0, description="Proxy hops whose X-Forwarded-For entries are trusted."
    )
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted JSON request body on /api."
    )
    otlp_max_body_bytes: int = Field(
        4 * 1_048_576,
        ge=1024,
        description="Largest accepted OTLP export body on /v1/traces (compressed); "
        "decompressed bodies may be up to 8 times larger.",
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="Time given to in-flight requests on SIGTERM."
    )
    system_provider_keys: Annotated[tuple[SystemProvider, ...], NoDecode] = Field(
        default_factory=tuple,
        description="JSON list of model providers every application may use: "
        '`[{"id", "label", "api": "openai-chat"|"anthropic-messages", "base_url", "api_key", '
        '"models": [...]}]`; unknown keys refuse to boot.',
    )

    security: SecuritySettings = Field(default_factory=SecuritySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    loops: LoopSettings = Field(default_factory=LoopSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    runs: RunSettings = Field(default_factory=RunSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    _split = field_validator("trusted_origins", mode="before")(_split_commas)
    _providers = field_validator("system_provider_keys", mode="before")(_system_providers)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            for bare in ("postgresql://", "postgres://"):
                if url.startswith(bare):
                    return "postgresql+psycopg://" + url[len(bare) :]
            if url.startswith("sqlite:///"):
                return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'corral.db').as_posix()}"

    @property
    def public_url_is_secure(self) -> bool:
        parts = urlsplit(self.public_url)
        if parts.scheme == "https":
            return True
        return parts.scheme == "http" and _is_loopback(parts.hostname or "")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and `.env`."""
    return Settings()
