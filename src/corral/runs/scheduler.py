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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit import service as audit
from corral.core.clock import as_utc, utcnow
from corral.core.db import transaction
from corral.core.errors import CorralError, RateLimited, Unavailable
from corral.core.request_context import Actor
from corral.core.run_limits import PlatformRunLimits
from corral.runs import creation, cron
from corral.runs.models import Run, Schedule

_log = structlog.get_logger(__name__)

MAX_CATCH_UP_GRACE = timedelta(hours=1)
# Schedules handled per pass; the rest wait for the next one, a few seconds later.
BATCH_SIZE = 200
# Skipped windows are counted up to this many: counting walks the windows one by one
# (about 0.1 ms each), and an every-minute schedule down for a week has 10 080 of them.
MAX_COUNTED_SKIPS = 1000
_ACTOR = Actor.system("scheduler")

CreateScheduledRun = Callable[[AsyncSession, Schedule, datetime], Awaitable[Run | None]]


@dataclass(slots=True)
class PassReport:
    """What one pass did, for logs and tests."""

    due: int = 0
    created: int = 0
    already_created: int = 0
    deferred: int = 0
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
) -> bool:
    """Create the window's run; False when it should be tried again on a later pass."""
    try:
        async with session.begin_nested():
            run = await create_run(session, schedule, window)
    except (RateLimited, Unavailable) as exc:
        # Passing conditions (the org is at its concurrency ceiling): the window stays due and
        # the next pass tries again, until the window falls out of its grace.
        report.deferred += 1
        _log.info("scheduler.run_deferred", schedule_id=schedule.id, window=window, code=exc.code)
        return False
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
        return True
    if run is None:
        report.already_created += 1
        return True
    report.created += 1
    schedule.last_run_at = window
    schedule.last_run_id = run.id
    return True


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
        if now - window > catch_up_grace(schedule, window):
            skipped += 1
        elif not await _create(session, schedule, window, create_run, report):
            # Left due at the window itself: the older windows are counted now, not again.
            schedule.next_run_at = window
            _record_skips(session, schedule, skipped, due, now, report)
            return
    _record_skips(session, schedule, skipped, due, now, report)
    schedule.next_run_at = cron.next_fire(schedule.cron, zone, now)


def _record_skips(
    session: AsyncSession,
    schedule: Schedule,
    skipped: int,
    due: datetime,
    now: datetime,
    report: PassReport,
) -> None:
    if not skipped:
        return
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


def _due(now: datetime) -> Any:
    return (Schedule.enabled.is_(True), Schedule.next_run_at <= now)


async def run_due(
    sessions: async_sessionmaker[AsyncSession],
    *,
    limits: PlatformRunLimits | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> PassReport:
    """One pass over the due schedules; safe to run on several replicas at once."""
    now = now or utcnow()

    async def create_run(session: AsyncSession, schedule: Schedule, window: datetime) -> Run | None:
        return await creation.create_scheduled_run(session, schedule, window, limits=limits)

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


async def scheduler_pass(
    sessions: async_sessionmaker[AsyncSession], limits: PlatformRunLimits | None = None
) -> None:
    """The `scheduler` loop's iteration: one pass, logged when it found anything due."""
    report = await run_due(sessions, limits=limits)
    if report.did_anything:
        _log.info("loop.scheduler", **dataclasses.asdict(report))
