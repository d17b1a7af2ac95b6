"""Two scheduler processes on one PostgreSQL database: exactly one run per window.

Each process is a real OS process with its own engine and, in the first test, its own leader
election (the real loop registry, every loop but `scheduler` switched off). The second test
drops the election and has both processes run passes back to back, as two leaders whose terms
overlap would: the row locks and the unique (schedule_id, scheduled_for) must still hold.

Determinism: every schedule is daily, at a minute that has just passed, with `next_run_at` on
that window; no other window can come during the test, so the expected rows are known in
advance. The test waits for them by polling the database against a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from corral.api.app import create_app
from corral.core.clock import as_utc
from corral.core.db import create_engine, create_sessionmaker
from corral.runs.models import Run, Schedule
from tests.api.test_schedules import create_agent, create_schedule
from tests.clients import asgi_client
from tests.conftest import make_settings, migrate_blocking
from tests.services import postgres_url
from tests.traces.support import container_of

SCHEDULES = 6
# Deadlines, not expected durations: on a loaded 2-core box importing Corral alone can take 30s.
STARTUP_DEADLINE_SECONDS = 300.0
DEADLINE_SECONDS = 120.0
REPO = Path(__file__).resolve().parents[2]

# argv: database URL, data dir, JSON list of loops to switch off, mode ("loops" or "passes").
# Prints "ready", works until its stdin closes, then prints what its scheduler loop saw.
_SCHEDULER_PROCESS = """
import asyncio, json, sys
from pathlib import Path
from corral.container import build_container
from corral.core.logging import configure
from corral.core.settings import LogSettings
from corral.runs.scheduler import run_due
from tests.conftest import make_settings

configure(LogSettings())

async def main(url, data_dir, disabled, mode):
    settings = make_settings(
        Path(data_dir), url, loops={"enabled": True, "disabled": json.loads(disabled)}
    )
    container = build_container(settings)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    passes = created = already_created = 0
    try:
        print("ready", flush=True)
        if mode == "loops":
            await container.loops.start()
            await stdin_closed
            status = [s for s in container.loops.status() if s.name == "scheduler"][0]
            report = {"leader": status.is_leader, "iterations": status.iterations,
                      "error": status.last_error}
        else:
            while not stdin_closed.done():
                done = await run_due(container.sessions)
                passes += 1
                created += done.created
                already_created += done.already_created
            report = {"passes": passes, "created": created, "already_created": already_created}
    finally:
        await container.aclose()
    print(json.dumps(report), flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


@dataclass
class Fixture:
    url: str
    disabled: list[str]
    windows: dict[str, datetime]


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[Fixture]:
    """A database of its own with an agent and daily schedules whose window just passed."""
    admin_url = postgres_url()
    name = f"corral_test_scheduler_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{url}/{name}"
    migrate_blocking(url)
    app = create_app(make_settings(tmp_path / "seed", url))
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    windows: dict[str, datetime] = {}
    try:
        async with app.router.lifespan_context(app), asgi_client(app) as owner:
            await owner.register("owner@example.com", org="Acme")
            await create_agent(owner)
            for index in range(SCHEDULES):
                window = minute - timedelta(minutes=index)
                created = await create_schedule(
                    owner,
                    name=f"daily-{index}",
                    cron=f"{window.minute} {window.hour} * * *",
                    timezone="UTC",
                )
                windows[created["id"]] = window
            container = container_of(app)
            disabled = [s.name for s in container.loops.status() if s.name != "scheduler"]
            # Created now, each waits for tomorrow: make today's window, just passed, due.
            await rewind(container.engine, windows)
        yield Fixture(url=url, disabled=disabled, windows=windows)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def rewind(engine: AsyncEngine, windows: dict[str, datetime]) -> None:
    """Make every schedule due at its window again."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        for schedule_id, window in windows.items():
            await session.execute(
                update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=window)
            )


@dataclass
class SchedulerProcess:
    process: asyncio.subprocess.Process
    stderr: Path

    def failure(self) -> str:
        return f"exit {self.process.returncode}: {self.stderr.read_text()[-4000:]}"


async def start(fixture: Fixture, tmp_path: Path, label: str, mode: str) -> SchedulerProcess:
    stderr = tmp_path / f"{label}.stderr"
    with stderr.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _SCHEDULER_PROCESS,
            fixture.url,
            str(tmp_path / label),
            json.dumps(fixture.disabled),
            mode,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=sink,
        )
    return SchedulerProcess(process, stderr)


async def ready(worker: SchedulerProcess) -> None:
    assert worker.process.stdout is not None
    line = await asyncio.wait_for(worker.process.stdout.readline(), STARTUP_DEADLINE_SECONDS)
    assert line.strip() == b"ready", worker.failure()


async def finish(worker: SchedulerProcess) -> dict[str, object]:
    """Close its stdin and read the report it prints on the way out."""
    assert worker.process.stdin is not None
    worker.process.stdin.close()
    stdout, _ = await asyncio.wait_for(worker.process.communicate(), DEADLINE_SECONDS)
    assert worker.process.returncode == 0, worker.failure()
    report: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return report


async def wait_until(
    engine: AsyncEngine,
    workers: list[SchedulerProcess],
    condition: str,
    check: Callable[[AsyncSession], Awaitable[bool]],
) -> None:
    """Poll the database until `check(session)` holds, failing early if a process dies."""
    sessions = create_sessionmaker(engine)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        async with sessions() as session:
            if await check(session):
                return
        for worker in workers:
            assert worker.process.returncode is None, worker.failure()
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await asyncio.sleep(0.1)


async def all_advanced(session: AsyncSession, windows: dict[str, datetime]) -> bool:
    rows = await session.execute(
        select(Schedule.id, Schedule.next_run_at).where(Schedule.id.in_(windows))
    )
    return all(
        next_run is not None and as_utc(next_run) > windows[schedule_id]
        for schedule_id, next_run in rows
    )


async def runs_by_window(engine: AsyncEngine) -> list[tuple[str, datetime, int]]:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        rows = await session.execute(
            select(Run.schedule_id, Run.scheduled_for, func.count())
            .group_by(Run.schedule_id, Run.scheduled_for)
            .order_by(Run.schedule_id)
        )
        return [(str(s), as_utc(w), int(n)) for s, w, n in rows if w is not None]


def expected(windows: dict[str, datetime]) -> list[tuple[str, datetime, int]]:
    return sorted((schedule_id, window, 1) for schedule_id, window in windows.items())


@pytest.fixture
async def engine(seeded: Fixture) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(seeded.url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_two_scheduler_processes_elect_one_leader(
    seeded: Fixture, engine: AsyncEngine, tmp_path: Path
) -> None:
    workers = [await start(seeded, tmp_path, f"loops-{i}", "loops") for i in range(2)]
    for worker in workers:
        await ready(worker)
    windows = seeded.windows

    async def every_schedule_advanced(session: AsyncSession) -> bool:
        return await all_advanced(session, windows)

    await wait_until(engine, workers, "every schedule to advance", every_schedule_advanced)
    reports = [await finish(worker) for worker in workers]
    assert sorted(bool(r["leader"]) for r in reports) == [False, True], reports
    (leader,) = [r for r in reports if r["leader"]]
    assert leader["error"] is None
    assert await runs_by_window(engine) == expected(windows)


async def test_overlapping_passes_never_duplicate_a_window(
    seeded: Fixture, engine: AsyncEngine, tmp_path: Path
) -> None:
    workers = [await start(seeded, tmp_path, f"passes-{i}", "passes") for i in range(2)]
    for worker in workers:
        await ready(worker)
    windows = seeded.windows

    async def every_schedule_advanced(session: AsyncSession) -> bool:
        return await all_advanced(session, windows)

    await wait_until(engine, workers, "every schedule to advance", every_schedule_advanced)
    assert await runs_by_window(engine) == expected(windows)
    # Both are still racing: make every window due again; each already has its run.
    for _ in range(3):
        await rewind(engine, windows)
        await wait_until(engine, workers, "the rewound schedules", every_schedule_advanced)
    reports = [await finish(worker) for worker in workers]
    assert all(int(str(r["passes"])) > 0 for r in reports), reports
    assert sum(int(str(r["created"])) for r in reports) == SCHEDULES, reports
    assert await runs_by_window(engine) == expected(windows)
