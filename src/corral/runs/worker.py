"""A run worker: claims queued runs up to its concurrency, keeps their leases, executes them.

`corral serve` runs one in its own process on the embedded tier (`CORRAL_WORKER_IN_SERVER`);
`corral worker` runs workers as separate processes on any host sharing the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.ids import new_id
from corral.governance.halts import service as halts
from corral.governance.halts.matching import ActiveHalt, Subject
from corral.runs import queue
from corral.runs.executor import RunExecutor
from corral.runs.models import Run
from corral.runs.signals import RunSignals

_log = structlog.get_logger(__name__)

# How often a worker with free capacity looks for queued runs when nothing wakes it.
IDLE_POLL_SECONDS = 0.5
# How often a worker asks the database whether its runs were cancelled or halted from another
# process (a halt made in this process wakes it at once).
CANCEL_POLL_SECONDS = 0.25
RECOVERY_INTERVAL_SECONDS = 5.0


def worker_identity() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id('wrk')[-8:]}"


class RunWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        executor: RunExecutor,
        signals: RunSignals,
        worker_id: str,
        concurrency: int,
        lease_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._executor = executor
        self._signals = signals
        self.worker_id = worker_id
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._tasks: dict[str, asyncio.Task[object]] = {}
        # What halts can cover of each running run: its application and subject.
        self._subjects: dict[str, tuple[str, Subject]] = {}
        # How many times running runs were checked for cancels and halts (tests await these).
        self.stop_checks = 0
        self._stop_checked = asyncio.Event()
        self._stopping = asyncio.Event()
        self._main: list[asyncio.Task[None]] = []
        self.claimed_total = 0

    @property
    def active(self) -> int:
        return len(self._tasks)

    def start(self) -> None:
        self._main = [
            asyncio.ensure_future(self._claim_loop()),
            asyncio.ensure_future(self._lease_loop()),
            asyncio.ensure_future(self._cancel_loop()),
            asyncio.ensure_future(self._recovery_loop()),
        ]

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop claiming; give running runs a grace period, then cancel them as interrupted."""
        self._stopping.set()
        for task in self._main:
            task.cancel()
        for task in self._main:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks.values()), timeout=grace_seconds)
            for run_id in list(self._tasks):
                # Their leases lapse; another worker recovers them.
                self._executor.stop(run_id, "lease_lost")
            if pending:
                await asyncio.wait(pending, timeout=grace_seconds)

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            free = self._concurrency - len(self._tasks)
            claimed = []
            if free > 0:
                try:
                    claimed = list(
                        await queue.claim(
                            self._sessions,
                            self.worker_id,
                            lease_seconds=self._lease_seconds,
                            limit=free,
                        )
                    )
                except Exception:  # noqa: BLE001 — the worker outlives a failed database round trip
                    _log.exception("worker.claim_failed")
            for run in claimed:
                self.claimed_total += 1
                self._subjects[run.id] = (run.application_id, _subject(run))
                self._signals.changed(run.id)
                task: asyncio.Task[object] = asyncio.ensure_future(self._executor.execute(run))
                self._tasks[run.id] = task
                task.add_done_callback(functools.partial(self._done, run.id))
            if not claimed or len(self._tasks) >= self._concurrency:
                await self._signals.wait_queued(IDLE_POLL_SECONDS)

    def _done(self, run_id: str, _task: asyncio.Task[object]) -> None:
        task = self._tasks.pop(run_id, None)
        self._subjects.pop(run_id, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            _log.error("worker.run_failed", run_id=run_id, error=repr(task.exception()))
        # Capacity freed: look for the next run at once.
        self._signals.queued()

    async def _lease_loop(self) -> None:
        interval = self._lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            ids = list(self._tasks)
            try:
                kept = await queue.renew(
                    self._sessions, self.worker_id, ids, lease_seconds=self._lease_seconds
                )
            except Exception:  # noqa: BLE001 — the worker outlives a failed database round trip
                _log.exception("worker.renew_failed")
                continue
            for run_id in set(ids) - kept:
                if run_id in self._tasks:
                    self._executor.stop(run_id, "lease_lost")

    async def _cancel_loop(self) -> None:
        while True:
            await self._signals.wait_halts_changed(CANCEL_POLL_SECONDS)
            ids = list(self._tasks)
            if not ids:
                continue
            try:
                cancelled = await queue.cancel_requested(self._sessions, ids)
                halted = await self._halted(ids)
            except Exception:  # noqa: BLE001 — the worker outlives a failed database round trip
                _log.exception("worker.cancel_poll_failed")
                continue
            for run_id in cancelled:
                self._executor.stop(run_id, "cancelled")
            for run_id, halt in halted.items():
                self._executor.stop(run_id, "halted", halt.describe)
            self.stop_checks += 1
            self._stop_checked.set()
            self._stop_checked = asyncio.Event()

    async def stop_checks_reach(self, count: int) -> None:
        """Return once running runs have been checked for cancels and halts `count` times."""
        while self.stop_checks < count:
            await self._stop_checked.wait()

    async def _halted(self, ids: list[str]) -> dict[str, ActiveHalt]:
        runs = [(i, *self._subjects[i]) for i in ids if i in self._subjects]
        async with self._sessions() as session:
            return await halts.halted_runs(session, runs)

    async def _recovery_loop(self) -> None:
        while True:
            try:
                recovered = await queue.recover_expired(self._sessions)
                if recovered.requeued or recovered.failed:
                    _log.warning(
                        "worker.recovered_runs",
                        requeued=recovered.requeued,
                        failed=recovered.failed,
                    )
                    self._signals.queued()
            except Exception:  # noqa: BLE001 — the worker outlives a failed database round trip
                _log.exception("worker.recovery_failed")
            await asyncio.sleep(RECOVERY_INTERVAL_SECONDS)


def _subject(run: Run) -> Subject:
    model = (run.manifest or {}).get("model") or {}
    return Subject(
        agent=run.agent_name,
        end_user=run.end_user_id,
        model=model.get("name") if isinstance(model, dict) else None,
        run_id=run.id,
    )
