"""The executor's event sink: what the sidecar reports becomes the run's log, usage and result.

An event is numbered when it is emitted and stored by one writer task, in order and in batches,
so a model or tool call never waits for a commit; `logs`, SSE and a resumed stream see it as soon
as its batch commits, and in-process waiters are woken then. The executor drains the writer before
it stores the status that ends the run. Usage and cost are summed here from `model_call` events,
the single place the sidecar meters model calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.runs.models import Run, RunEvent
from corral.runs.sidecar.contracts import EventKind
from corral.runs.signals import RunSignals

_log = structlog.get_logger(__name__)

# Runaway runtimes cannot flood the log: past this many events, logs are counted, not stored.
MAX_STORED_EVENTS = 5000
MAX_LOG_MESSAGE_CHARS = 8000


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "model_calls": self.model_calls,
            "tool_calls": self.tool_calls,
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass(slots=True)
class RunRecorder:
    run_id: str
    next_seq: int
    sessions: async_sessionmaker[AsyncSession]
    signals: RunSignals
    usage: Usage = field(default_factory=Usage)
    output: Any = None
    has_output: bool = False
    runtime_error: dict[str, Any] | None = None
    # Model and tool calls as reported, for the run's spans.
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    dropped_logs: int = 0
    # Numbered events not yet written; one writer task stores them in order, in batches, so a
    # model or tool call never waits for a commit.
    _pending: list[RunEvent] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _writer: asyncio.Task[None] | None = None
    _closed: bool = False

    async def emit(self, kind: EventKind, data: Mapping[str, Any]) -> None:
        payload = dict(data)
        if kind == "model_call":
            self._meter(payload)
            self.calls.append((kind, payload))
        elif kind == "tool_call":
            self.usage.tool_calls += 1
            self.calls.append((kind, payload))
        elif kind == "output":
            self.output = payload.get("output")
            self.has_output = True
        elif kind == "runtime_error":
            self.runtime_error = payload
        elif kind == "log":
            message = str(payload.get("message", ""))
            payload["message"] = message[:MAX_LOG_MESSAGE_CHARS]
        if kind == "log" and self.next_seq > MAX_STORED_EVENTS:
            self.dropped_logs += 1
            return
        self.append(kind, payload)

    def _meter(self, data: dict[str, Any]) -> None:
        self.usage.model_calls += 1
        self.usage.input_tokens += int(data.get("input_tokens") or 0)
        self.usage.output_tokens += int(data.get("output_tokens") or 0)
        cost = data.get("cost_usd")
        if isinstance(cost, int | float):
            self.usage.cost_usd += float(cost)
        elif data.get("status") == "ok" and data.get("provider") != "scripted":
            self.usage.unpriced_calls += 1

    def append(self, kind: str, data: dict[str, Any]) -> None:
        """Number the event now (order is the order of calls) and hand it to the writer."""
        if self._closed:
            # A call cut off as the run ended still reports; the run's log is already final.
            self.dropped_logs += 1
            return
        seq = self.next_seq
        self.next_seq += 1
        self._pending.append(
            RunEvent(run_id=self.run_id, seq=seq, at=utcnow(), kind=kind, data=data)
        )
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_loop())

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await self._store(batch)
                except Exception:  # noqa: BLE001 — the run goes on; its summary still holds
                    _log.exception("run.events_not_stored", run_id=self.run_id, lost=len(batch))
            if self._closed and not self._pending:
                return

    async def _store(self, batch: list[RunEvent]) -> None:
        async with transaction(self.sessions) as session:
            session.add_all(batch)
            await session.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(next_event_seq=batch[-1].seq + 1)
                .execution_options(synchronize_session=False)
            )
        self.signals.changed(self.run_id)

    async def drain(self) -> None:
        """Write every event emitted so far; nothing may be emitted afterwards."""
        self._closed = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
