"""The background-loop runner: one task per enabled loop, leader election for leader-only ones.

The loops themselves are listed in `corral.loops`; this module only runs what it is given and
reports on it for `/ready` and `corral loops list`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from corral.core.clock import utcnow
from corral.core.leader import LeaderLock

_log = structlog.get_logger(__name__)

LEADER_TICK_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 10.0
_MIN_STALE_SECONDS = 5.0
_JITTER = 0.1


@dataclass(frozen=True, slots=True)
class LoopSpec:
    name: str
    description: str
    interval_seconds: float
    run: Callable[[], Awaitable[None]]
    leader_only: bool = False


@dataclass(frozen=True, slots=True)
class LoopStatus:
    name: str
    description: str
    interval_seconds: float
    enabled: bool
    leader_only: bool
    running: bool
    is_leader: bool | None
    iterations: int
    last_heartbeat_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    healthy: bool
    reason: str | None


@dataclass(slots=True)
class _State:
    spec: LoopSpec
    enabled: bool
    task: asyncio.Task[None] | None = None
    lock: LeaderLock | None = None
    is_leader: bool = False
    iterations: int = 0
    started_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    # Keeps a manual run_once from overlapping the loop's own iteration.
    iteration_mutex: asyncio.Lock = field(default_factory=asyncio.Lock)


def _jittered(seconds: float) -> float:
    # Spreads replicas that booted together; not a security decision.
    return seconds * (1.0 + random.random() * _JITTER)  # noqa: S311


class LoopRunner:
    """Runs the enabled loops as asyncio tasks and reports their health."""

    def __init__(
        self,
        specs: Sequence[LoopSpec],
        *,
        enabled: bool,
        disabled: Collection[str],
        lock_factory: Callable[[str], LeaderLock],
        leader_tick_seconds: float = LEADER_TICK_SECONDS,
        stop_timeout_seconds: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        names = [spec.name for spec in specs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate loop names: {', '.join(duplicates)}")
        unknown = sorted(set(disabled) - set(names))
        if unknown:
            raise ValueError(
                f"unknown loop names in the disabled list: {', '.join(unknown)} "
                f"(known loops: {', '.join(sorted(names)) or 'none'})"
            )
        for spec in specs:
            if not spec.interval_seconds > 0:
                raise ValueError(f"loop {spec.name!r}: interval_seconds must be positive")
        if not leader_tick_seconds > 0 or not stop_timeout_seconds > 0:
            raise ValueError("leader_tick_seconds and stop_timeout_seconds must be positive")
        self._states = {
            spec.name: _State(spec=spec, enabled=enabled and spec.name not in disabled)
            for spec in specs
        }
        self._lock_factory = lock_factory
        self._leader_tick = leader_tick_seconds
        self._stop_timeout = stop_timeout_seconds
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Start one task per enabled loop that is not already running."""
        self._stopping.clear()
        started = []
        for state in self._states.values():
            if not state.enabled or (state.task is not None and not state.task.done()):
                continue
            name = state.spec.name
            if state.spec.leader_only and state.lock is None:
                state.lock = self._lock_factory(name)
            state.started_at = utcnow()
            state.task = asyncio.create_task(self._run(state), name=f"corral-loop:{name}")
            state.task.add_done_callback(functools.partial(self._on_task_done, name))
            started.append(name)
        if started:
            _log.info("loops.started", loops=started)

    async def stop(self) -> None:
        """Stop the loops and give up their leader locks.

        Loops between iterations stop at once; an iteration in flight may finish (bounded by
        the stop timeout) before it is cancelled, so that a pass is not cut off in the middle of
        a transaction or while its connection is being returned.
        """
        self._stopping.set()
        tasks = [s.task for s in self._states.values() if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                _, stuck = await asyncio.wait(pending, timeout=self._stop_timeout)
                for task in stuck:
                    _log.warning("loop.stop_timed_out", task=task.get_name())
        for state in self._states.values():
            if state.task is not None and state.task.done():
                state.task = None
            state.is_leader = False
            if state.lock is None:
                continue
            try:
                await asyncio.wait_for(state.lock.release(), timeout=self._stop_timeout)
            except Exception:  # noqa: BLE001 — stopping must go on for the other loops
                _log.exception("loop.leader_release_failed", loop=state.spec.name)

    def status(self) -> list[LoopStatus]:
        """A snapshot of every loop, enabled or not, in registry order."""
        now = utcnow()
        result = []
        for state in self._states.values():
            spec = state.spec
            running = state.task is not None and not state.task.done()
            healthy, reason = self._health(state, running, now)
            result.append(
                LoopStatus(
                    name=spec.name,
                    description=spec.description,
                    interval_seconds=spec.interval_seconds,
                    enabled=state.enabled,
                    leader_only=spec.leader_only,
                    running=running,
                    is_leader=state.is_leader if spec.leader_only else None,
                    iterations=state.iterations,
                    last_heartbeat_at=state.last_heartbeat_at,
                    last_success_at=state.last_success_at,
                    last_error=state.last_error,
                    healthy=healthy,
                    reason=reason,
                )
            )
        return result

    async def run_once(self, name: str) -> None:
        """Run one iteration now, whatever the leadership; its error, if any, propagates."""
        state = self._states.get(name)
        if state is None:
            raise KeyError(f"unknown loop {name!r}")
        await self._iterate(state, reraise=True)

    @staticmethod
    def _health(state: _State, running: bool, now: datetime) -> tuple[bool, str | None]:
        if not state.enabled:
            return True, None
        task = state.task
        if task is None:
            return False, "not started" if state.started_at is None else "stopped"
        if not running:
            if task.cancelled():
                return False, "stopped"
            error = task.exception()
            return False, f"crashed: {type(error).__name__}: {error}"
        last_sign = state.last_heartbeat_at or state.started_at
        if last_sign is None:
            return True, None
        age = (now - last_sign).total_seconds()
        if age > max(3 * state.spec.interval_seconds, _MIN_STALE_SECONDS):
            return False, f"no heartbeat for {age:.0f}s"
        return True, None

    async def _run(self, state: _State) -> None:
        spec = state.spec
        # Leader-only loops wake more often than they run so that a lease is renewed in time.
        tick = min(spec.interval_seconds, self._leader_tick) if spec.leader_only else None
        next_due = float("-inf")
        while not self._stopping.is_set():
            state.last_heartbeat_at = utcnow()
            leading = await self._check_leadership(state) if spec.leader_only else True
            if leading and time.monotonic() >= next_due:
                await self._iterate(state, reraise=False)
                next_due = time.monotonic() + spec.interval_seconds
            if tick is None:
                delay = spec.interval_seconds
            elif leading:
                delay = min(tick, max(0.0, next_due - time.monotonic()))
            else:
                delay = tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=_jittered(delay))

    async def _check_leadership(self, state: _State) -> bool:
        lock = state.lock
        if lock is None:
            return False
        try:
            leading = await lock.try_acquire()
        except Exception:  # noqa: BLE001 — a broken lock store means "not leader", not a dead loop
            _log.exception("loop.leader_check_failed", loop=state.spec.name)
            leading = False
        if leading != state.is_leader:
            event = "loop.leadership_acquired" if leading else "loop.leadership_lost"
            _log.info(event, loop=state.spec.name)
        state.is_leader = leading
        return leading

    async def _iterate(self, state: _State, *, reraise: bool) -> None:
        async with state.iteration_mutex:
            try:
                await state.spec.run()
            except Exception as exc:
                state.iterations += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                if reraise:
                    raise
                _log.exception("loop.iteration_failed", loop=state.spec.name)
            else:
                state.iterations += 1
                state.last_success_at = utcnow()
                state.last_error = None

    @staticmethod
    def _on_task_done(name: str, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            _log.error("loop.crashed", loop=name, exc_info=error)
