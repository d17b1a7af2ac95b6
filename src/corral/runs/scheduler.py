"""The due-run pass: for every enabled schedule whose window has come, create its run.

It runs as the leader-only `scheduler` loop, so one replica does the work; two can still overlap
for a moment (a Redis lease that lapsed mid-pass), so the pass itself is safe to run anywhere at
once: each schedule is handled in a transaction of its own that locks its row (`FOR UPDATE SKIP
LOCKED` on PostgreSQL, the single writer on SQLite), rechecks that it is still due, creates the
run and advances `next_run_at` together; and the unique (schedule_id, scheduled_for) of runs
refuses a second run of one window whatever happens.

Missed windows (the scheduler was down, or a pass ran late): only the most recent window that
has passed may still get a run, and only while it is at most `catch_up_grace(…)` old, the
smaller of one hour and the schedule's interval. Older windows are skipped and counted in a
`schedule.windows_skipped` audit event; the schedule then continues from its next future window.
See docs/schedules.md for why.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.agents.models import Agent, AgentVersion
from corral.audit import service as audit
from corral.core.clock import as_utc, utcnow
from corral.core.db import transaction
from corral.core.errors import CorralError
from corral.core.request_context import Actor
from corral.runs import cron
from corral.runs.models import QUEUED, Run, Schedule

_log = structlog.get_logger(__name__)

MAX_CATCH_UP_GRACE = timedelta(hours=1)
# Schedules handled per pass; the rest wait for the next one, a few seconds later.
BATCH_SIZE = 200
# Skipped windows are counted up to this many (an every-minute schedule down for a month).
MAX_COUNTED_SKIPS = 10_000
_ACTOR = Actor.system("scheduler")

CreateScheduledRun = Callable[[AsyncSession, Schedule, datetime], Awaitable[Run | None]]


async def create_scheduled_run(
    session: AsyncSession, schedule: Schedule, scheduled_for: datetime
) -> Run | None:
    """Stand-in for `corral.runs.creation.create_scheduled_run` until it lands on main."""
    agent = await session.get(Agent, schedule.agent_id)
    version_name = schedule.agent_version or (agent.latest_version if agent else None)
    if agent is None or version_name is None:
        return None
    version = await session.scalar(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == version_name
        )
    )
    if version is None:
        return None
    run = Run(
        org_id=schedule.org_id,
        application_id=schedule.application_id,
        agent_id=agent.id,
        agent_name=agent.name,
        agent_version=version.version,
        manifest=version.manifest,
        prompt=version.prompt,
        end_user_id=schedule.end_user_id,
        status=QUEUED,
        input=schedule.input,
        trace_id=secrets.token_hex(16),
        timeout_seconds=int(version.manifest.get("timeout_seconds") or 300),
        schedule_id=schedule.id,
        scheduled_for=scheduled_for,
        created_by=f"schedule:{schedule.id}",
    )
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        return None
    return run


@dataclass(slots=True)
class PassReport:
    """What one pass did, for logs and tests."""

    due: int = 0
    created: int = 0
    already_created: int = 0
    refused: int = 0
    skipped_windows: int = 0
    failed: int = 0

    @property
    def did_anything(self) -> bool:
        return self.due > 0


def catch_up_grace(schedule: Schedule, window: datetime) -> timedelta:
    """How late a window's run may still be created: min(1 hour, the schedule's interval)."""
    following = cron.next_fire(schedule.cron, cron.check_timezone(schedule.timezone), window)
    if following is None:
        return MAX_CATCH_UP_GRACE
    return min(MAX_CATCH_UP_GRACE, following - window)


def _audit(session: AsyncSession, schedule: Schedule, action: str, details: dict[str, Any]) -> None:
    audit.record(
        session,
        _ACTOR,
        action,
        target_type="schedule",
        target_id=schedule.id,
        org_id=schedule.org_id,
        application_id=schedule.application_id,
        details={"name": schedule.name, **details},
    )


async def _create(
    session: AsyncSession,
    schedule: Schedule,
    window: datetime,
    create_run: CreateScheduledRun,
    report: PassReport,
) -> None:
    try:
        async with session.begin_nested():
            run = await create_run(session, schedule, window)
    except CorralError as exc:
        # The gates of API runs (input, limits, halts) refused it: the window is spent.
        report.refused += 1
        _log.warning("scheduler.run_refused", schedule_id=schedule.id, window=window, code=exc.code)
        _audit(
            session,
            schedule,
            "schedule.run_refused",
            {"window": window.isoformat(), "code": exc.code, "detail": exc.detail},
        )
        return
    if run is None:
        report.already_created += 1
        return
    report.created += 1
    schedule.last_run_at = window
    schedule.last_run_id = run.id


async def _fire(
    session: AsyncSession,
    schedule: Schedule,
    now: datetime,
    create_run: CreateScheduledRun,
    report: PassReport,
) -> None:
    zone = cron.check_timezone(schedule.timezone)
    due = as_utc(schedule.next_run_at or now)
    window = cron.latest_fire(schedule.cron, zone, now)
    if window is not None and window < due:
        window = None
    skipped = 0
    if window is not None:
        skipped = cron.count_fires(schedule.cron, zone, due, window, limit=MAX_COUNTED_SKIPS)
        if now - window <= catch_up_grace(schedule, window):
            await _create(session, schedule, window, create_run, report)
        else:
            skipped += 1
    if skipped:
        report.skipped_windows += skipped
        _log.warning("scheduler.windows_skipped", schedule_id=schedule.id, count=skipped)
        _audit(
            session,
            schedule,
            "schedule.windows_skipped",
            {
                "count": skipped,
                "count_is_lower_bound": skipped >= MAX_COUNTED_SKIPS,
                "from": due.isoformat(),
                "until": now.isoformat(),
            },
        )
    schedule.next_run_at = cron.next_fire(schedule.cron, zone, now)


def _due(now: datetime) -> Any:
    return (Schedule.enabled.is_(True), Schedule.next_run_at <= now)


async def run_due(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    create_run: CreateScheduledRun = create_scheduled_run,
    batch_size: int = BATCH_SIZE,
) -> PassReport:
    """One pass over the due schedules; safe to run on several replicas at once."""
    now = now or utcnow()
    report = PassReport()
    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(Schedule.id)
                .where(*_due(now))
                .order_by(Schedule.next_run_at)
                .limit(batch_size)
            )
        )
    for schedule_id in ids:
        try:
            async with transaction(sessions) as session:
                schedule = await session.scalar(
                    select(Schedule)
                    .where(Schedule.id == schedule_id, *_due(now))
                    .with_for_update(skip_locked=True)
                )
                # Gone, switched off, advanced, or locked by another replica's pass right now.
                if schedule is None:
                    continue
                report.due += 1
                await _fire(session, schedule, now, create_run, report)
        except Exception:  # noqa: BLE001 — one broken schedule must not stop the others
            report.failed += 1
            _log.exception("scheduler.schedule_failed", schedule_id=schedule_id)
    return report


async def scheduler_pass(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The `scheduler` loop's iteration: one pass, logged when it found anything due."""
    report = await run_due(sessions)
    if report.did_anything:
        _log.info("loop.scheduler", **dataclasses.asdict(report))
