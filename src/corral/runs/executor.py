"""Executing one claimed run: sandbox and sidecar, the race between its end, its timeout and a
cancel, the output check, the terminal state, and the run's spans."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.agents.manifest import Manifest
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets import reservations
from corral.runs.announcements import announce
from corral.runs.events import STATUS
from corral.runs.models import RUNNING, Run, RunEvent
from corral.runs.outcome import Ending, Outcome, decide
from corral.runs.recorder import RunRecorder
from corral.runs.sandboxes.base import ResourceLimits, SandboxAdapter, SandboxExit
from corral.runs.sidecar.contracts import AssignedTool, Assignment, SidecarRun
from corral.runs.signals import RunSignals
from corral.runs.warm_pool import Slot, WarmPool

_log = structlog.get_logger(__name__)

# What a sandbox may need beyond the runtime for its own start (interpreter, imports).
_MEMORY_FLOOR_MB = 256


def resource_limits(run: Run) -> ResourceLimits:
    limits = run.limits or {}
    memory_mb = max(int(limits.get("memory_mb", 512)), _MEMORY_FLOOR_MB)
    return ResourceLimits(
        memory_bytes=memory_mb * 1024 * 1024,
        cpu_seconds=int(limits.get("cpu_seconds", run.timeout_seconds)),
        max_processes=int(limits.get("max_processes", 64)),
    )


def assignment_of(run: Run, manifest: Manifest) -> Assignment:
    return Assignment(
        run_id=run.id,
        model=manifest.model.name or "scripted",
        prompt=run.prompt,
        skills=tuple(
            f"## Skill: {skill.name}\n{skill.description}\n\n{skill.instructions}".strip()
            for skill in manifest.skills
        ),
        input=run.input,
        output_schema=manifest.output_schema,
        tools=tuple(
            AssignedTool(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters or {"type": "object", "properties": {}},
            )
            for tool in manifest.tools
        ),
        timeout_seconds=run.timeout_seconds,
    )


def sidecar_run_of(run: Run, manifest: Manifest) -> SidecarRun:
    return SidecarRun(
        run_id=run.id,
        org_id=run.org_id,
        application_id=run.application_id,
        agent_id=run.agent_id,
        agent_name=run.agent_name,
        end_user_id=run.end_user_id,
        trace_id=run.trace_id,
        manifest=manifest,
        assignment=assignment_of(run, manifest),
        root_span_id=secrets.token_hex(8),
    )


@dataclass(slots=True)
class Execution:
    """A run in progress on this worker: what can stop it."""

    run_id: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reason: Ending | None = None
    detail: str | None = None

    def request_stop(self, reason: Ending, detail: str | None = None) -> None:
        if self.reason is None:
            self.reason = reason
            self.detail = detail
        self.stop.set()


@dataclass(frozen=True, slots=True)
class Finished:
    run_id: str
    outcome: Outcome
    warm: bool
    recorder: RunRecorder
    sidecar_run: SidecarRun | None
    started_ns: int
    ended_ns: int


# Called with every finished run (spans, metrics); failures are logged, never raised.
FinishHook = Callable[[Finished], Any]


class RunExecutor:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        adapter: SandboxAdapter,
        pool: WarmPool,
        signals: RunSignals,
        worker_id: str,
        on_finished: FinishHook | None = None,
    ) -> None:
        self._sessions = sessions
        self._adapter = adapter
        self._pool = pool
        self._signals = signals
        self._worker_id = worker_id
        self._on_finished = on_finished
        self.running: dict[str, Execution] = {}
        self._sandbox_pids: dict[str, int] = {}
        signals.on_cancel(self._cancel_here)

    def _cancel_here(self, run_id: str) -> None:
        execution = self.running.get(run_id)
        if execution is not None:
            execution.request_stop("cancelled")

    def known_pids(self) -> list[int]:
        """The sandbox process of each run executing here (for checks that they end)."""
        return list(self._sandbox_pids.values())

    def stop(self, run_id: str, reason: Ending, detail: str | None = None) -> None:
        execution = self.running.get(run_id)
        if execution is not None:
            execution.request_stop(reason, detail)

    async def execute(self, run: Run) -> Finished:
        execution = Execution(run.id)
        self.running[run.id] = execution
        started_ns = time.time_ns()
        recorder = RunRecorder(run.id, run.next_event_seq, self._sessions, self._signals)
        sidecar_run: SidecarRun | None = None
        warm = False
        try:
            if run.cancel_requested_at is not None:
                execution.request_stop("cancelled")
            if not self._adapter.isolated:
                recorder.append(
                    "log",
                    {
                        "level": "warning",
                        "message": f"the {self._adapter.name!r} sandbox does not isolate this "
                        "run (development only)",
                    },
                )
            manifest = Manifest.model_validate(run.manifest)
            sidecar_run = sidecar_run_of(run, manifest)
            ending, sandbox_exit, warm, start_error = await self._run_in_sandbox(
                run, sidecar_run, recorder, execution
            )
            outcome = decide(
                ending,
                recorder,
                sandbox_exit,
                output_schema=manifest.output_schema,
                timeout_seconds=run.timeout_seconds,
                start_error=start_error,
                stop_detail=execution.detail,
            )
            finished = Finished(
                run.id, outcome, warm, recorder, sidecar_run, started_ns, time.time_ns()
            )
            if ending != "lease_lost":
                # The trace is handed to ingest before the run reads as ended, so whoever sees
                # the ending finds its spans once the ingest queue has flushed.
                await self._finished_hook(finished)
                await self._finish(run, recorder, outcome)
        finally:
            self.running.pop(run.id, None)
            await recorder.drain()
        return finished

    async def _finished_hook(self, finished: Finished) -> None:
        if self._on_finished is None:
            return
        try:
            result = self._on_finished(finished)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # noqa: BLE001 — spans and metrics never fail a finished run
            _log.exception("run.finish_hook_failed", run_id=finished.run_id)

    async def _run_in_sandbox(
        self, run: Run, sidecar_run: SidecarRun, recorder: RunRecorder, execution: Execution
    ) -> tuple[Ending, SandboxExit | None, bool, str | None]:
        if execution.stop.is_set():
            return execution.reason or "cancelled", None, False, None
        try:
            slot, warm = await self._pool.acquire(resource_limits(run))
        except Exception as exc:  # noqa: BLE001 — any start failure fails the run, not the worker
            _log.exception("run.sandbox_start_failed", run_id=run.id)
            return "start_failed", None, False, f"{type(exc).__name__}: {exc}"
        if slot.process.pid is not None:
            self._sandbox_pids[run.id] = slot.process.pid
        try:
            slot.sidecar.assign(sidecar_run, recorder)
            ending = await self._watch(run, slot, execution)
            if ending != "exited":
                await slot.process.kill()
            sandbox_exit = await slot.exited
        finally:
            await slot.discard()
            self._sandbox_pids.pop(run.id, None)
        return ending, sandbox_exit, warm, None

    async def _watch(self, run: Run, slot: Slot, execution: Execution) -> Ending:
        elapsed = 0.0
        if run.started_at is not None:
            elapsed = max(0.0, (utcnow() - run.started_at).total_seconds())
        remaining = max(0.0, run.timeout_seconds - elapsed)
        stop_wait = asyncio.ensure_future(execution.stop.wait())
        try:
            done, _ = await asyncio.wait(
                {slot.exited, stop_wait}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stop_wait
        if slot.exited in done:
            return "exited"
        if execution.stop.is_set():
            return execution.reason or "cancelled"
        return "timed_out"

    async def _finish(self, run: Run, recorder: RunRecorder, outcome: Outcome) -> None:
        usage = recorder.usage
        now = utcnow()
        # Every event the run emitted is stored before the status that ends it.
        await recorder.drain()
        async with transaction(self._sessions) as session:
            seq = recorder.next_seq
            ended = await session.execute(
                update(Run)
                .where(Run.id == run.id, Run.status == RUNNING, Run.lease_owner == self._worker_id)
                .values(
                    status=outcome.status,
                    output=outcome.output,
                    error_code=outcome.error_code,
                    error_message=outcome.error_message,
                    error_details=outcome.error_details,
                    usage=usage.as_json(),
                    cost_usd=round(usage.cost_usd, 10),
                    finished_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                    next_event_seq=seq + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(ended, "rowcount", 0) == 1:
                data: dict[str, Any] = {"status": outcome.status}
                if outcome.error_code:
                    data["error"] = {"code": outcome.error_code, "message": outcome.error_message}
                session.add(RunEvent(run_id=run.id, seq=seq, at=now, kind=STATUS, data=data))
                recorder.next_seq = seq + 1
                await reservations.release_for_run(session, run.id)
                await announce(
                    session,
                    run,
                    outcome.status,
                    error_code=outcome.error_code,
                    error_message=outcome.error_message,
                    cost_usd=round(usage.cost_usd, 10),
                )
        self._signals.changed(run.id)
