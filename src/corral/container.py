"""The composition root: every collaborator built once, shared by the HTTP app, workers and CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as redis_asyncio
from redis import Redis as SyncRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from corral.audit.anchors import AnchorSigner
from corral.audit.chain import AuditKeys, attach_keys
from corral.core import secrets as server_secrets
from corral.core.bounded_checks import BoundedChecks
from corral.core.crypto import EncryptionKeyring, Signer
from corral.core.db import create_engine, create_sessionmaker, is_sqlite
from corral.core.errors import ConfigError
from corral.core.health import HealthProbes
from corral.core.idempotency import IdempotencyStore
from corral.core.leader import LeaderLock, build_leader_lock
from corral.core.loops import LoopRunner
from corral.core.metrics import Metrics
from corral.core.passwords import PasswordHashing
from corral.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from corral.core.secrets import ServerSecrets
from corral.core.settings import Settings
from corral.governance.approvals.signals import ApprovalSignals
from corral.governance.decisions import Decider
from corral.governance.evidence import ingest_sink
from corral.governance.halts.cache import HaltCache
from corral.governance.policy_sets import PolicySetCache
from corral.governance.throttle_redis import RedisThrottleStore
from corral.identity.key_usage import KeyUsageRecorder
from corral.identity.services.accounts import AccountDeps
from corral.identity.services.mfa import MfaDeps
from corral.loops import AnchorLoop, build_loop_specs
from corral.notify.sender import EmailSender, build_email_sender
from corral.runs.gates import RunGates
from corral.runs.signals import RunSignals
from corral.telemetry.cost import PriceCatalog, default_catalog
from corral.telemetry.ingest_queue import IngestQueue
from corral.telemetry.redact import Redactor
from corral.traces.ingest import SpanRow
from corral.traces.ingest_config import IngestConfigCache, IngestDefaults
from corral.traces.ingest_stats import IngestStats
from corral.webhooks.sender import WebhookSender
from corral_sdk.policy import InMemoryThrottleStore, ThrottleStore

INGEST_QUEUE_SPANS = 20_000
INGEST_BATCH_SPANS = 2000
# A throttle token taken in Redis is on the decision path: a slow Redis fails closed quickly.
THROTTLE_REDIS_TIMEOUT_SECONDS = 1.0
# How long shutdown waits for readiness checks that missed their deadline.
READY_CHECK_GRACE_SECONDS = 2.0


@dataclass
class Container:
    settings: Settings
    secrets: ServerSecrets
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: redis_asyncio.Redis | None
    signer: Signer
    keyring: EncryptionKeyring
    accounts: AccountDeps
    rate_limiter: RateLimiter | None
    idempotency: IdempotencyStore
    metrics: Metrics
    loops: LoopRunner
    probes: HealthProbes
    ingest: IngestQueue[SpanRow]
    ingest_config: IngestConfigCache
    ingest_stats: IngestStats
    redactor: Redactor
    price_catalog: PriceCatalog
    policy_sets: PolicySetCache
    decider: Decider
    throttle_redis: SyncRedis | None
    key_usage: KeyUsageRecorder
    side_engine: AsyncEngine
    ready_checks: BoundedChecks
    started_monotonic: float
    run_gates: RunGates
    run_signals: RunSignals
    halt_cache: HaltCache
    webhook_sender: WebhookSender
    email: EmailSender
    mfa: MfaDeps
    # Password-reset requests, per client address and per account (hourly buckets).
    password_reset_limiter: RateLimiter
    audit_keys: AuditKeys
    anchor_signer: AnchorSigner
    approval_signals: ApprovalSignals

    async def aclose(self) -> None:
        await self.ingest.stop()
        await self.loops.stop()
        await self.webhook_sender.aclose()
        await self.key_usage.drain()
        await self.email.drain()
        await self.approval_signals.aclose()
        if self.rate_limiter is not None:
            await self.rate_limiter.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        if self.throttle_redis is not None:
            self.throttle_redis.close()
        await self.ready_checks.drain(READY_CHECK_GRACE_SECONDS)
        await self.engine.dispose()
        await self.side_engine.dispose()


def build_container(settings: Settings) -> Container:
    """Wire the collaborators. Opens no connection: engines and clients connect lazily."""
    secrets_ = server_secrets.resolve(settings)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.effective_database_url)
    sessions = create_sessionmaker(engine)
    # Writes made while the request that causes them holds a connection (decision evidence)
    # take theirs from a pool of their own: from the request pool, a burst of such requests
    # would hold every connection while each waits for one more.
    side_engine = create_engine(settings.effective_database_url)
    side_sessions = create_sessionmaker(side_engine)
    audit_keys = AuditKeys(secrets_.audit_keys)
    attach_keys(engine, audit_keys)
    attach_keys(side_engine, audit_keys)
    redis = (
        redis_asyncio.Redis.from_url(settings.redis_url, socket_timeout=2.0)
        if settings.redis_url
        else None
    )
    signer = Signer(secrets_.signing_keys)
    auth = settings.auth
    passwords = PasswordHashing(
        secrets_.password_pepper,
        time_cost=auth.argon2_time_cost,
        memory_kib=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
    )
    rl = settings.rate_limit
    rate_limiter: RateLimiter | None = None
    if rl.enabled:
        rate_limiter = (
            RedisRateLimiter(redis, rate_per_second=rl.requests_per_second, burst=rl.burst)
            if redis is not None
            else MemoryRateLimiter(rate_per_second=rl.requests_per_second, burst=rl.burst)
        )
    metrics = Metrics()
    metrics.watch_pool(engine)

    def lock_factory(name: str) -> LeaderLock:
        return build_leader_lock(
            name,
            engine=engine,
            redis=redis,
            data_dir=settings.data_dir,
            lease_seconds=settings.loops.leader_lease_seconds,
        )

    # PolicySet.decide is synchronous, so the shared throttle store gets a synchronous client.
    throttle_redis = (
        SyncRedis.from_url(
            settings.redis_url,
            socket_timeout=THROTTLE_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=THROTTLE_REDIS_TIMEOUT_SECONDS,
        )
        if settings.redis_url
        else None
    )
    throttle_store: ThrottleStore = (
        RedisThrottleStore(throttle_redis)
        if throttle_redis is not None
        else InMemoryThrottleStore()
    )
    policy_sets = PolicySetCache(throttle_store)
    halt_cache = HaltCache(sessions)
    idempotency = IdempotencyStore(sessions)
    probes = HealthProbes()
    telemetry = settings.telemetry
    ingest_config = IngestConfigCache(
        IngestDefaults(
            sampling_rate=telemetry.sampling_rate,
            token_threshold=telemetry.sampling_token_threshold,
            retention_days=telemetry.trace_retention_days,
        ),
        # Derived per application (HMAC), so the signing key itself never redacts anything.
        hash_secret=secrets_.signing_keys[0],
        ttl_seconds=telemetry.ingest_settings_cache_seconds,
    )
    keyring = EncryptionKeyring(secrets_.encryption_keys)
    webhook_sender = WebhookSender(sessions, keyring, settings.webhooks)
    anchor_signer = AnchorSigner(secrets_.audit_signing_key)
    approval_signals = ApprovalSignals(redis)
    specs = build_loop_specs(
        engine,
        sessions,
        idempotency,
        probes,
        trace_retention_days=settings.telemetry.trace_retention_days,
        decision_retention_days=settings.telemetry.decision_retention_days,
        inline_run_retention_days=settings.runs.inline_run_limits.retention_days,
        run_limits=settings.runs.platform_run_limits,
        webhook_sender=webhook_sender,
        anchors=AnchorLoop(
            anchor_signer,
            interval_seconds=settings.audit.anchor_interval_seconds,
            max_events=settings.audit.anchor_max_events,
        ),
        approval_signals=approval_signals,
    )
    unknown = sorted(set(settings.loops.disabled) - {spec.name for spec in specs})
    if unknown:
        raise ConfigError(
            [
                f"CORRAL_LOOPS_DISABLED names unknown loops: {', '.join(unknown)} "
                f"(known: {', '.join(spec.name for spec in specs)})"
            ]
        )
    loops = LoopRunner(
        specs,
        enabled=settings.loops.enabled,
        disabled=settings.loops.disabled,
        lock_factory=lock_factory,
        # Renew well within the lease so leadership never lapses between ticks.
        leader_tick_seconds=min(5.0, settings.loops.leader_lease_seconds / 3),
    )
    return Container(
        settings=settings,
        secrets=secrets_,
        engine=engine,
        sessions=sessions,
        redis=redis,
        signer=signer,
        keyring=keyring,
        accounts=AccountDeps(passwords=passwords, signer=signer, auth=auth),
        rate_limiter=rate_limiter,
        idempotency=idempotency,
        metrics=metrics,
        loops=loops,
        probes=probes,
        ingest=IngestQueue(
            ingest_sink(sessions, metrics),
            max_items=INGEST_QUEUE_SPANS,
            batch_size=INGEST_BATCH_SPANS,
        ),
        ingest_config=ingest_config,
        ingest_stats=IngestStats(),
        redactor=ingest_config.default_redactor,
        price_catalog=default_catalog(),
        policy_sets=policy_sets,
        decider=Decider(
            policy_sets,
            side_sessions,
            metrics,
            offload_throttles=throttle_redis is not None,
            halts=halt_cache,
        ),
        throttle_redis=throttle_redis,
        key_usage=KeyUsageRecorder(side_sessions),
        side_engine=side_engine,
        ready_checks=BoundedChecks(),
        started_monotonic=time.monotonic(),
        run_gates=_run_gates(settings, redis),
        run_signals=RunSignals(),
        halt_cache=halt_cache,
        webhook_sender=webhook_sender,
        email=build_email_sender(settings.smtp, production=settings.is_production),
        mfa=MfaDeps(
            keyring=keyring,
            code_key=secrets_.password_pepper,
        ),
        password_reset_limiter=_hourly(
            redis, settings.auth.password_reset_per_hour, "corral:pwreset:"
        ),
        audit_keys=audit_keys,
        anchor_signer=anchor_signer,
        approval_signals=approval_signals,
    )


def _hourly(redis: redis_asyncio.Redis | None, count: int, prefix: str) -> RateLimiter:
    if redis is not None:
        return RedisRateLimiter(redis, rate_per_second=count / 3600, burst=count, key_prefix=prefix)
    return MemoryRateLimiter(rate_per_second=count / 3600, burst=count)


def _run_gates(settings: Settings, redis: redis_asyncio.Redis | None) -> RunGates:
    platform = settings.runs.platform_run_limits
    inline = settings.runs.inline_run_limits

    def per_minute(count: int, prefix: str) -> RateLimiter:
        if redis is not None:
            return RedisRateLimiter(
                redis, rate_per_second=count / 60, burst=count, key_prefix=prefix
            )
        return MemoryRateLimiter(rate_per_second=count / 60, burst=count)

    return RunGates(
        platform=platform,
        inline=inline,
        org_rate=per_minute(platform.per_org_global_rate_per_min, "corral:runs:org:"),
        inline_rate=per_minute(inline.rate_per_min, "corral:runs:inline:"),
    )


def uses_embedded_database(container: Container) -> bool:
    return is_sqlite(container.engine)
