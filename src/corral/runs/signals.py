"""In-process wake-ups for runs: a run changed (new events, new status) or should stop.

Waiters on the same process as the worker (the embedded tier) wake at once; waiters elsewhere
fall back to polling the database, which is the source of truth either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class RunSignals:
    def __init__(self) -> None:
        self._changed: dict[str, asyncio.Event] = {}
        self._queued = asyncio.Event()
        self._cancel_listeners: list[Callable[[str], None]] = []
        self._halts = asyncio.Event()

    def changed(self, run_id: str) -> None:
        """Wake everyone waiting on this run."""
        event = self._changed.pop(run_id, None)
        if event is not None:
            event.set()

    async def wait_changed(self, run_id: str, within: float) -> None:
        """Return when the run changes or after `within` seconds, whichever comes first."""
        event = self._changed.setdefault(run_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)

    def queued(self) -> None:
        """A run was queued: a worker in this process may claim it now."""
        self._queued.set()

    async def wait_queued(self, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queued.wait(), within)
        self._queued.clear()

    def on_cancel(self, listener: Callable[[str], None]) -> None:
        self._cancel_listeners.append(listener)

    def cancel_requested(self, run_id: str) -> None:
        for listener in self._cancel_listeners:
            listener(run_id)
        self.changed(run_id)

    def halts_changed(self) -> None:
        """A halt was made or cleared: workers here check their runs against halts now."""
        self._halts.set()

    async def wait_halts_changed(self, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halts.wait(), within)
        self._halts.clear()
