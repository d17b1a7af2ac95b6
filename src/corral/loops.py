"""The one explicit registry of background loops. Add a loop here, nowhere else."""

from __future__ import annotations

import dataclasses
import time

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from corral.audit.anchors import AnchorSigner, anchor_pending
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.health import HealthProbes
from corral.core.idempotency import IdempotencyStore
from corral.core.loops import LoopSpec
from corral.core.run_limits import PlatformRunLimits
from corral.governance.approvals.expiry import expire_due
from corral.governance.approvals.signals import ApprovalSignals
from corral.governance.budgets.monitor import MONITOR_INTERVAL_SECONDS, monitor_pass
from corral.governance.retention import purge_decisions
from corral.identity.services.accounts import purge_expired_sessions
from corral.runs.retention import purge_inline_runs
from corral.runs.scheduler import scheduler_pass
from corral.traces.retention import enforce_retention
from corral.webhooks.sender import WebhookSender

_log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class AnchorLoop:
    """What the `audit_anchor` loop needs: the signing key and its pace."""

    signer: AnchorSigner
    interval_seconds: float
    max_events: int


# Decisions refuse an expired request at once; the pass only records expiries and announces them.
APPROVAL_EXPIRY_INTERVAL_SECONDS = 5.0

# Fire times are whole minutes: a pass every few seconds starts each run within seconds.
SCHEDULER_INTERVAL_SECONDS = 5.0
# Events reach receivers about this long after they happen (when nothing is backed off).
WEBHOOK_DELIVERY_INTERVAL_SECONDS = 1.0


def build_loop_specs(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    idempotency: IdempotencyStore,
    probes: HealthProbes,
    *,
    trace_retention_days: int,
    decision_retention_days: int,
    inline_run_retention_days: int,
    run_limits: PlatformRunLimits | None = None,
    webhook_sender: WebhookSender | None = None,
    anchors: AnchorLoop | None = None,
    approval_signals: ApprovalSignals | None = None,
) -> list[LoopSpec]:
    async def database_probe() -> None:
        started = time.perf_counter()
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            probes.record("database", ok=False, latency_ms=0.0, reason=type(exc).__name__)
            raise
        probes.record("database", ok=True, latency_ms=(time.perf_counter() - started) * 1000)

    async def session_cleanup() -> None:
        async with transaction(sessions) as session:
            removed = await purge_expired_sessions(session)
        if removed:
            _log.info("loop.session_cleanup", removed=removed)

    async def idempotency_cleanup() -> None:
        removed = await idempotency.purge_expired()
        if removed:
            _log.info("loop.idempotency_cleanup", removed=removed)

    async def trace_retention() -> None:
        report = await enforce_retention(
            engine, sessions, default_days=trace_retention_days, now=utcnow()
        )
        if report.did_anything:
            _log.info("loop.trace_retention", **dataclasses.asdict(report))

    async def decision_retention() -> None:
        removed = await purge_decisions(
            sessions, retention_days=decision_retention_days, now=utcnow()
        )
        if removed:
            _log.info("loop.decision_retention", removed=removed)

    return [
        LoopSpec(
            name="database_probe",
            description="Checks the database every few seconds for /health (on every replica).",
            interval_seconds=10.0,
            run=database_probe,
        ),
        LoopSpec(
            name="session_cleanup",
            description="Deletes expired sign-in sessions.",
            interval_seconds=300.0,
            run=session_cleanup,
            leader_only=True,
        ),
        LoopSpec(
            name="idempotency_cleanup",
            description="Deletes idempotency records older than their retention.",
            interval_seconds=600.0,
            run=idempotency_cleanup,
            leader_only=True,
        ),
        LoopSpec(
            name="trace_retention",
            description="Deletes spans and traces past their retention in bounded batches; on "
            "PostgreSQL also creates daily span partitions ahead and drops expired ones.",
            interval_seconds=300.0,
            run=trace_retention,
            leader_only=True,
        ),
        LoopSpec(
            name="decision_retention",
            description="Deletes policy decision evidence past CORRAL_DECISION_RETENTION_DAYS "
            "in bounded batches.",
            interval_seconds=600.0,
            run=decision_retention,
            leader_only=True,
        ),
        *_run_specs(
            sessions, inline_run_retention_days=inline_run_retention_days, run_limits=run_limits
        ),
        *_budget_specs(sessions),
        *_webhook_specs(webhook_sender),
        *_audit_specs(sessions, anchors),
        *_approval_specs(sessions, approval_signals or ApprovalSignals()),
    ]


def _webhook_specs(sender: WebhookSender | None) -> list[LoopSpec]:
    if sender is None:
        return []

    async def webhook_delivery() -> None:
        attempted = await sender.deliver_due()
        if attempted:
            _log.debug("loop.webhook_delivery", attempted=attempted)

    return [
        LoopSpec(
            name="webhook_delivery",
            description="Sends due webhook deliveries and schedules retries with backoff "
            "(on every replica; claims never overlap).",
            interval_seconds=WEBHOOK_DELIVERY_INTERVAL_SECONDS,
            run=webhook_delivery,
        )
    ]


def _budget_specs(sessions: async_sessionmaker[AsyncSession]) -> list[LoopSpec]:
    async def budget_monitor() -> None:
        report = await monitor_pass(sessions, utcnow())
        if report.halts_created or report.halts_cleared or report.released:
            _log.info(
                "loop.budget_monitor",
                halts_created=report.halts_created,
                halts_cleared=report.halts_cleared,
                released=report.released,
            )

    return [
        LoopSpec(
            name="budget_monitor",
            description="Measures budgets from ingested spans, sends threshold and exceeded "
            "webhooks once per window, halts an exceeded budget's scope and clears the halt "
            "when the window rolls over; releases expired reservations.",
            interval_seconds=MONITOR_INTERVAL_SECONDS,
            run=budget_monitor,
            leader_only=True,
        )
    ]


def _audit_specs(
    sessions: async_sessionmaker[AsyncSession], anchors: AnchorLoop | None
) -> list[LoopSpec]:
    if anchors is None:
        return []

    async def audit_anchor() -> None:
        made = await anchor_pending(sessions, anchors.signer, max_events=anchors.max_events)
        if made:
            _log.info("loop.audit_anchor", anchors=made)

    return [
        LoopSpec(
            name="audit_anchor",
            description="Seals each audit chain's new events under an Ed25519-signed RFC 6962 "
            "Merkle root (CORRAL_AUDIT_ANCHOR_INTERVAL_SECONDS).",
            interval_seconds=anchors.interval_seconds,
            run=audit_anchor,
            leader_only=True,
        )
    ]


def _approval_specs(
    sessions: async_sessionmaker[AsyncSession], signals: ApprovalSignals
) -> list[LoopSpec]:
    async def approval_expiry() -> None:
        expired = await expire_due(sessions, now=utcnow())
        if expired:
            await signals.resolved(expired)
            _log.info("loop.approval_expiry", expired=len(expired))

    return [
        LoopSpec(
            name="approval_expiry",
            description="Marks pending approval requests past their expiry as expired and "
            "announces them (approval.resolved).",
            interval_seconds=APPROVAL_EXPIRY_INTERVAL_SECONDS,
            run=approval_expiry,
            leader_only=True,
        ),
    ]


def _run_specs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    inline_run_retention_days: int,
    run_limits: PlatformRunLimits | None,
) -> list[LoopSpec]:
    async def inline_run_retention() -> None:
        removed = await purge_inline_runs(
            sessions, retention_days=inline_run_retention_days, now=utcnow()
        )
        if removed:
            _log.info("loop.inline_run_retention", removed=removed)

    return [
        LoopSpec(
            name="inline_run_retention",
            description="Deletes ended inline runs past the `retention_days` of "
            "CORRAL_INLINE_RUN_LIMITS.",
            interval_seconds=3600.0,
            run=inline_run_retention,
            leader_only=True,
        ),
        LoopSpec(
            name="scheduler",
            description="Creates the runs of schedules whose window has come (one run per "
            "window; a missed window is caught up only within its grace, see docs/schedules.md).",
            interval_seconds=SCHEDULER_INTERVAL_SECONDS,
            run=lambda: scheduler_pass(sessions, run_limits),
            leader_only=True,
        ),
    ]
