"""The due-run pass: one run per window, the missed-window rule, DST, and the loop registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit.models import AuditEvent
from corral.core.run_limits import PlatformRunLimits
from corral.runs.models import QUEUED, SUCCEEDED, Run, Schedule
from corral.runs.scheduler import MAX_COUNTED_SKIPS, PassReport, catch_up_grace, run_due
from tests.api.test_schedules import create_agent, create_schedule, manifest
from tests.clients import ApiClient
from tests.traces.support import container_of

DAY = datetime(2026, 1, 12, tzinfo=UTC)  # a Monday


def at(hour: int, minute: int = 0, second: int = 0, *, day: datetime = DAY) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second)


async def scheduled(owner: ApiClient, app: FastAPI, due: datetime, **body: Any) -> str:
    """A schedule of a published agent whose next window is `due`."""
    if (await owner.get("/api/agents/digest-bot")).status_code == 404:
        await create_agent(owner)
    created = await create_schedule(owner, **{"timezone": "UTC", **body})
    async with container_of(app).sessions() as session, session.begin():
        await session.execute(
            update(Schedule).where(Schedule.id == created["id"]).values(next_run_at=due)
        )
    schedule_id: str = created["id"]
    return schedule_id


def sessions_of(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return container_of(app).sessions


async def runs_of(app: FastAPI, schedule_id: str) -> list[Run]:
    async with sessions_of(app)() as session:
        return list(
            await session.scalars(
                select(Run).where(Run.schedule_id == schedule_id).order_by(Run.scheduled_for)
            )
        )


async def schedule_row(app: FastAPI, schedule_id: str) -> Schedule:
    async with sessions_of(app)() as session:
        schedule = await session.get(Schedule, schedule_id)
        assert schedule is not None
        return schedule


async def skip_events(app: FastAPI, schedule_id: str) -> list[dict[str, Any]]:
    async with sessions_of(app)() as session:
        rows = await session.scalars(
            select(AuditEvent).where(
                AuditEvent.target_id == schedule_id,
                AuditEvent.action == "schedule.windows_skipped",
            )
        )
        return [row.details for row in rows]


def as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def test_a_due_window_gets_exactly_one_run(owner: ApiClient, app: FastAPI) -> None:
    schedule_id = await scheduled(owner, app, at(10), cron="0 * * * *")
    report = await run_due(sessions_of(app), now=at(10, 0, 3))
    assert report == PassReport(due=1, created=1)
    (run,) = await runs_of(app, schedule_id)
    assert as_utc(run.scheduled_for) == at(10)
    assert (run.status, run.input, run.agent_name) == (QUEUED, {"ticket": "T-1"}, "digest-bot")
    assert run.agent_version == "1.0.0"
    assert run.created_by == f"schedule:{schedule_id}"
    schedule = await schedule_row(app, schedule_id)
    assert as_utc(schedule.next_run_at) == at(11)
    assert (as_utc(schedule.last_run_at), schedule.last_run_id) == (at(10), run.id)

    assert await run_due(sessions_of(app), now=at(10, 30)) == PassReport()
    assert (await run_due(sessions_of(app), now=at(11, 0, 2))).created == 1
    windows = [as_utc(r.scheduled_for) for r in await runs_of(app, schedule_id)]
    assert windows == [at(10), at(11)]


async def test_a_window_that_already_has_its_run_gets_no_second(
    owner: ApiClient, app: FastAPI
) -> None:
    schedule_id = await scheduled(owner, app, at(10), cron="0 * * * *")
    await run_due(sessions_of(app), now=at(10, 0, 1))
    # As if a second leader had read the schedule before the first advanced it.
    async with sessions_of(app)() as session, session.begin():
        await session.execute(
            update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=at(10))
        )
    report = await run_due(sessions_of(app), now=at(10, 0, 2))
    assert report == PassReport(due=1, already_created=1)
    assert len(await runs_of(app, schedule_id)) == 1
    assert as_utc((await schedule_row(app, schedule_id)).next_run_at) == at(11)


async def test_after_downtime_only_the_latest_window_is_caught_up(
    owner: ApiClient, app: FastAPI
) -> None:
    schedule_id = await scheduled(owner, app, at(10), cron="0 * * * *")
    report = await run_due(sessions_of(app), now=at(13, 20))
    assert report == PassReport(due=1, created=1, skipped_windows=3)
    (run,) = await runs_of(app, schedule_id)
    assert as_utc(run.scheduled_for) == at(13)
    assert as_utc((await schedule_row(app, schedule_id)).next_run_at) == at(14)
    (skipped,) = await skip_events(app, schedule_id)
    assert skipped["count"] == 3
    assert skipped["from"] == at(10).isoformat()


async def test_a_window_older_than_its_grace_is_skipped_too(owner: ApiClient, app: FastAPI) -> None:
    # Every ten minutes: the grace is ten minutes, so 10:30 is too old at 10:41.
    frequent = await scheduled(owner, app, at(10), cron="*/10 * * * *", name="frequent")
    # Daily: the grace is an hour, so 09:00 is too old at 10:41.
    daily = await scheduled(owner, app, at(9), cron="0 9 * * *", name="daily")
    report = await run_due(sessions_of(app), now=at(10, 41))
    assert report == PassReport(due=2, created=1, skipped_windows=1 + 4)
    (run,) = await runs_of(app, frequent)
    assert as_utc(run.scheduled_for) == at(10, 40)
    assert await runs_of(app, daily) == []
    assert [e["count"] for e in await skip_events(app, daily)] == [1]
    assert [e["count"] for e in await skip_events(app, frequent)] == [4]
    next_daily = as_utc((await schedule_row(app, daily)).next_run_at)
    assert next_daily == at(9, day=DAY + timedelta(days=1))


async def test_a_long_outage_is_counted_up_to_a_bound(owner: ApiClient, app: FastAPI) -> None:
    schedule_id = await scheduled(owner, app, at(10) - timedelta(days=3), cron="* * * * *")
    report = await run_due(sessions_of(app), now=at(10, 0, 30))
    assert report == PassReport(due=1, created=1, skipped_windows=MAX_COUNTED_SKIPS)
    (skipped,) = await skip_events(app, schedule_id)
    assert (skipped["count"], skipped["count_is_lower_bound"]) == (MAX_COUNTED_SKIPS, True)
    assert as_utc((await schedule_row(app, schedule_id)).next_run_at) == at(10, 1)


async def test_the_grace_is_the_interval_up_to_an_hour(owner: ApiClient, app: FastAPI) -> None:
    schedule_id = await scheduled(owner, app, at(10), cron="*/5 * * * *")
    row = await schedule_row(app, schedule_id)
    assert catch_up_grace(row, at(10)) == timedelta(minutes=5)
    row.cron = "0 9 * * 1-5"
    assert catch_up_grace(row, at(9)) == timedelta(hours=1)
    row.cron = "0 9,10 * * *"
    assert catch_up_grace(row, at(9)) == timedelta(hours=1)
    assert catch_up_grace(row, at(10)) == timedelta(hours=1)


async def test_disabled_schedules_never_fire(owner: ApiClient, app: FastAPI) -> None:
    schedule_id = await scheduled(owner, app, at(10), cron="0 * * * *", enabled=False)
    async with sessions_of(app)() as session, session.begin():
        # Even with a window left behind, switched off means off.
        await session.execute(
            update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=at(10))
        )
    assert await run_due(sessions_of(app), now=at(10, 0, 5)) == PassReport()
    assert await runs_of(app, schedule_id) == []


async def test_windows_follow_the_zone_across_spring_forward(
    owner: ApiClient, app: FastAPI
) -> None:
    gap_end = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST: 02:30 did not exist
    schedule_id = await scheduled(owner, app, gap_end, cron="30 2 * * *", timezone="Europe/Paris")
    report = await run_due(sessions_of(app), now=gap_end + timedelta(seconds=4))
    assert report == PassReport(due=1, created=1)
    (run,) = await runs_of(app, schedule_id)
    assert as_utc(run.scheduled_for) == gap_end
    next_run = as_utc((await schedule_row(app, schedule_id)).next_run_at)
    assert next_run == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


async def test_several_due_schedules_in_one_pass(owner: ApiClient, app: FastAPI) -> None:
    ids = [
        await scheduled(owner, app, at(10, minute), cron=f"{minute} * * * *", name=f"s{minute}")
        for minute in range(0, 50, 10)
    ]
    report = await run_due(sessions_of(app), now=at(10, 45))
    assert report == PassReport(due=5, created=5)
    for minute, schedule_id in zip(range(0, 50, 10), ids, strict=True):
        (run,) = await runs_of(app, schedule_id)
        assert as_utc(run.scheduled_for) == at(10, minute)


async def test_a_run_the_gates_refuse_spends_its_window(owner: ApiClient, app: FastAPI) -> None:
    schedule_id = await scheduled(owner, app, at(10), cron="0 * * * *")
    # The schedule follows the newest version, which now wants another input.
    stricter = manifest("2.0.0", input_schema={"type": "object", "required": ["topic"]})
    draft = await owner.put(
        "/api/agents/digest-bot/draft", json={"manifest": stricter, "prompt": "p"}
    )
    assert draft.status_code == 200, draft.text
    assert (await owner.post("/api/agents/digest-bot/publish")).status_code == 201
    report = await run_due(sessions_of(app), now=at(10, 0, 2))
    assert report == PassReport(due=1, refused=1)
    assert await runs_of(app, schedule_id) == []
    assert as_utc((await schedule_row(app, schedule_id)).next_run_at) == at(11)
    async with sessions_of(app)() as session:
        refusal = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.target_id == schedule_id, AuditEvent.action == "schedule.run_refused"
            )
        )
    assert refusal is not None
    assert (refusal.details["code"], refusal.details["window"]) == (
        "input_invalid",
        at(10).isoformat(),
    )


async def test_a_window_waits_for_room_under_the_concurrency_ceiling(
    owner: ApiClient, app: FastAPI
) -> None:
    one_at_a_time = PlatformRunLimits(max_concurrent_per_org=1)
    first = await scheduled(owner, app, at(10), cron="0 * * * *", name="first")
    second = await scheduled(owner, app, at(10, 5), cron="5 * * * *", name="second")
    report = await run_due(sessions_of(app), limits=one_at_a_time, now=at(10, 5, 1))
    assert report == PassReport(due=2, created=1, deferred=1)
    assert await runs_of(app, second) == []
    assert as_utc((await schedule_row(app, second)).next_run_at) == at(10, 5), "still due"

    (run,) = await runs_of(app, first)
    async with sessions_of(app)() as session, session.begin():
        await session.execute(update(Run).where(Run.id == run.id).values(status=SUCCEEDED))
    report = await run_due(sessions_of(app), limits=one_at_a_time, now=at(10, 6))
    assert report == PassReport(due=1, created=1)
    (late,) = await runs_of(app, second)
    assert as_utc(late.scheduled_for) == at(10, 5)


async def test_a_deferred_window_is_skipped_once_out_of_its_grace(
    owner: ApiClient, app: FastAPI
) -> None:
    one_at_a_time = PlatformRunLimits(max_concurrent_per_org=1)
    await scheduled(owner, app, at(10), cron="0 * * * *", name="first")
    every_10 = await scheduled(owner, app, at(10), cron="*/10 * * * *", name="every-10")
    await run_due(sessions_of(app), limits=one_at_a_time, now=at(10, 0, 1))
    report = await run_due(sessions_of(app), limits=one_at_a_time, now=at(10, 11))
    # 10:00 is out of its ten-minute grace; 10:10 is the window now, still waiting for room.
    assert report == PassReport(due=1, deferred=1, skipped_windows=1)
    assert as_utc((await schedule_row(app, every_10)).next_run_at) == at(10, 10)
    assert [e["count"] for e in await skip_events(app, every_10)] == [1]


async def test_the_registered_loop_creates_the_due_runs(owner: ApiClient, app: FastAPI) -> None:
    window = datetime.now(UTC).replace(second=0, microsecond=0)
    schedule_id = await scheduled(owner, app, window, cron=f"{window.minute} {window.hour} * * *")
    await container_of(app).loops.run_once("scheduler")
    (run,) = await runs_of(app, schedule_id)
    assert as_utc(run.scheduled_for) == window
    assert as_utc((await schedule_row(app, schedule_id)).next_run_at) == window + timedelta(days=1)


def test_the_scheduler_is_a_registered_leader_only_loop(app: FastAPI) -> None:
    (status,) = [s for s in container_of(app).loops.status() if s.name == "scheduler"]
    assert status.leader_only is True
    assert status.interval_seconds <= 10
