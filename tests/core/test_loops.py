"""The loop runner: iterations, failures, disabling, leadership, health and stopping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from corral.core import loops as loops_module
from corral.core.clock import utcnow
from corral.core.leader import FileLeaderLock, LeaderLock
from corral.core.loops import LoopRunner, LoopSpec, LoopStatus

WAIT = 30.0


class Job:
    """A loop body that counts its calls and signals once it has been called `target` times."""

    def __init__(self, target: int = 3, fail_first: int = 0) -> None:
        self.calls = 0
        self.target = target
        self.fail_first = fail_first
        self.reached = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls >= self.target:
            self.reached.set()
        if self.calls <= self.fail_first:
            raise ValueError(f"boom {self.calls}")


class ObservedLock:
    """Wraps a lock to let tests await its acquisition attempts instead of sleeping."""

    def __init__(self, inner: LeaderLock, attempts_wanted: int = 2) -> None:
        self.name = inner.name
        self.inner = inner
        self.attempts = 0
        self.attempts_wanted = attempts_wanted
        self.tried = asyncio.Event()

    async def try_acquire(self) -> bool:
        self.attempts += 1
        if self.attempts >= self.attempts_wanted:
            self.tried.set()
        return await self.inner.try_acquire()

    async def release(self) -> None:
        await self.inner.release()


class BrokenLock:
    """A lock whose backend is down."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.attempts = 0
        self.tried = asyncio.Event()

    async def try_acquire(self) -> bool:
        self.attempts += 1
        if self.attempts >= 3:
            self.tried.set()
        raise ConnectionError("backend down")

    async def release(self) -> None:
        return None


def no_locks(name: str) -> LeaderLock:
    raise AssertionError(f"loop {name} is not leader-only and must not ask for a lock")


def spec(name: str, job: Job, *, leader_only: bool = False) -> LoopSpec:
    return LoopSpec(name, f"the {name} loop", 0.01, job, leader_only=leader_only)


def by_name(runner: LoopRunner) -> dict[str, LoopStatus]:
    return {status.name: status for status in runner.status()}


async def test_loop_runs_repeatedly_and_reports_status() -> None:
    job = Job(target=3)
    runner = LoopRunner([spec("tick", job)], enabled=True, disabled=[], lock_factory=no_locks)
    assert by_name(runner)["tick"].reason == "not started"
    await runner.start()
    await runner.start()
    await asyncio.wait_for(job.reached.wait(), WAIT)
    status = by_name(runner)["tick"]
    assert all((status.running, status.enabled, status.healthy))
    assert status.reason is None
    assert status.iterations >= 3
    assert status.is_leader is None
    assert None not in (status.last_heartbeat_at, status.last_success_at)
    assert status.last_error is None
    assert status.description == "the tick loop"

    await runner.stop()
    await runner.stop()
    stopped = by_name(runner)["tick"]
    assert (stopped.running, stopped.healthy, stopped.reason) == (False, False, "stopped")


async def test_failing_iteration_is_logged_recorded_and_the_loop_keeps_going() -> None:
    job = Job(target=4, fail_first=2)
    seen: list[str | None] = []

    async def observe() -> None:
        seen.append(by_name(runner)["flaky"].last_error)
        await job()

    flaky = LoopSpec("flaky", "flaky", 0.01, observe)
    runner = LoopRunner([flaky], enabled=True, disabled=[], lock_factory=no_locks)
    with capture_logs() as logs:
        await runner.start()
        await asyncio.wait_for(job.reached.wait(), WAIT)
        await runner.stop()
    assert seen[:4] == [None, "ValueError: boom 1", "ValueError: boom 2", None]
    failures = [entry for entry in logs if entry["event"] == "loop.iteration_failed"]
    assert len(failures) == 2
    assert all(entry["loop"] == "flaky" for entry in failures)
    status = by_name(runner)["flaky"]
    assert status.iterations >= 4
    assert status.last_error is None


async def test_disabled_loops_do_not_run_and_are_healthy() -> None:
    active, idle = Job(), Job()
    runner = LoopRunner(
        [spec("active", active), spec("idle", idle)],
        enabled=True,
        disabled=["idle"],
        lock_factory=no_locks,
    )
    await runner.start()
    await asyncio.wait_for(active.reached.wait(), WAIT)
    await runner.stop()
    assert idle.calls == 0
    status = by_name(runner)["idle"]
    assert (status.enabled, status.running, status.healthy) == (False, False, True)
    assert (status.iterations, status.last_heartbeat_at) == (0, None)


async def test_runner_disabled_as_a_whole_runs_nothing() -> None:
    job = Job()
    runner = LoopRunner([spec("tick", job)], enabled=False, disabled=[], lock_factory=no_locks)
    await runner.start()
    await runner.run_once("tick")
    await runner.stop()
    assert job.calls == 1, "only the manual run"
    assert all(s.healthy and not s.enabled and not s.running for s in runner.status())


def test_configuration_mistakes_are_loud() -> None:
    with pytest.raises(ValueError, match="unknown loop names.*typo"):
        LoopRunner([spec("tick", Job())], enabled=True, disabled=["typo"], lock_factory=no_locks)
    with pytest.raises(ValueError, match="duplicate loop names: tick"):
        LoopRunner(
            [spec("tick", Job()), spec("tick", Job())],
            enabled=True,
            disabled=[],
            lock_factory=no_locks,
        )
    with pytest.raises(ValueError, match="interval_seconds"):
        LoopRunner(
            [LoopSpec("zero", "", 0, Job())], enabled=True, disabled=[], lock_factory=no_locks
        )


async def test_run_once_runs_now_and_propagates_errors() -> None:
    job = Job(fail_first=1)
    runner = LoopRunner(
        [spec("solo", job, leader_only=True)], enabled=True, disabled=[], lock_factory=no_locks
    )
    with pytest.raises(ValueError, match="boom 1"):
        await runner.run_once("solo")
    assert by_name(runner)["solo"].last_error == "ValueError: boom 1"
    await runner.run_once("solo")
    status = by_name(runner)["solo"]
    assert status.iterations == 2
    assert status.last_error is None
    assert status.last_success_at is not None
    with pytest.raises(KeyError, match="nope"):
        await runner.run_once("nope")


async def test_leader_only_loop_runs_on_one_replica_and_fails_over(tmp_path: Path) -> None:
    jobs = {"a": Job(target=5), "b": Job(target=5)}
    locks: dict[str, ObservedLock] = {}

    def factory_for(replica: str) -> Callable[[str], LeaderLock]:
        def factory(name: str) -> LeaderLock:
            locks[replica] = ObservedLock(FileLeaderLock(tmp_path / f"{name}.lock", name))
            return locks[replica]

        return factory

    runners = {
        replica: LoopRunner(
            [spec("sweep", jobs[replica], leader_only=True)],
            enabled=True,
            disabled=[],
            lock_factory=factory_for(replica),
            leader_tick_seconds=0.01,
        )
        for replica in ("a", "b")
    }
    try:
        for runner in runners.values():
            await runner.start()
        await asyncio.wait_for(locks["a"].tried.wait(), WAIT)
        await asyncio.wait_for(locks["b"].tried.wait(), WAIT)
        waiters = [asyncio.ensure_future(job.reached.wait()) for job in jobs.values()]
        done, pending = await asyncio.wait(
            waiters, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        assert done
        leader = "a" if jobs["a"].calls else "b"
        follower = "b" if leader == "a" else "a"
        assert jobs[follower].calls == 0
        assert by_name(runners[leader])["sweep"].is_leader is True
        follower_status = by_name(runners[follower])["sweep"]
        assert follower_status.is_leader is False
        assert follower_status.healthy
        assert follower_status.last_heartbeat_at is not None

        await runners[leader].stop()
        await asyncio.wait_for(jobs[follower].reached.wait(), WAIT)
        assert by_name(runners[follower])["sweep"].is_leader is True
    finally:
        for runner in runners.values():
            await runner.stop()
    fresh = FileLeaderLock(tmp_path / "sweep.lock", "sweep")
    assert await fresh.try_acquire(), "stop() released the lock"
    await fresh.release()


async def test_leader_check_failure_keeps_the_heartbeat_and_skips_the_work() -> None:
    job = Job()
    lock = BrokenLock("sweep")
    runner = LoopRunner(
        [spec("sweep", job, leader_only=True)],
        enabled=True,
        disabled=[],
        lock_factory=lambda _name: lock,
        leader_tick_seconds=0.01,
    )
    with capture_logs() as logs:
        await runner.start()
        await asyncio.wait_for(lock.tried.wait(), WAIT)
        await runner.stop()
    assert job.calls == 0
    assert any(entry["event"] == "loop.leader_check_failed" for entry in logs)
    status = by_name(runner)["sweep"]
    assert status.is_leader is False
    assert status.last_heartbeat_at is not None


async def test_stale_heartbeat_is_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    job = Job(target=1)
    runner = LoopRunner([spec("tick", job)], enabled=True, disabled=[], lock_factory=no_locks)
    await runner.start()
    await asyncio.wait_for(job.reached.wait(), WAIT)
    later = utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(loops_module, "utcnow", lambda: later)
    status = by_name(runner)["tick"]
    assert not status.healthy
    assert status.reason is not None
    assert status.reason.startswith("no heartbeat for")
    monkeypatch.undo()
    await runner.stop()


async def test_stop_is_bounded_when_an_iteration_ignores_cancellation() -> None:
    entered, let_go, exited = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await let_go.wait()
            raise
        finally:
            exited.set()

    runner = LoopRunner(
        [LoopSpec("stubborn", "", 0.01, stubborn)],
        enabled=True,
        disabled=[],
        lock_factory=no_locks,
        stop_timeout_seconds=0.05,
    )
    await runner.start()
    await asyncio.wait_for(entered.wait(), WAIT)
    with capture_logs() as logs:
        await asyncio.wait_for(runner.stop(), WAIT)
    assert any(entry["event"] == "loop.stop_timed_out" for entry in logs)
    assert by_name(runner)["stubborn"].running
    let_go.set()
    # The task ends in the same step that sets `exited`, so it is done once this wakes.
    await asyncio.wait_for(exited.wait(), WAIT)
    await runner.stop()
    assert not by_name(runner)["stubborn"].running
