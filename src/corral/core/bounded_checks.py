"""Checks bounded in time that are left to finish, never abandoned mid-call.

Cancelling a database call at its deadline does not stop it: aiosqlite's thread (or a driver)
goes on and later reports to the event loop, which may be closed by then. So a check that
misses its deadline keeps running in the background; the caller stops waiting for it, and
shutdown waits for what is still running before the engines are disposed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class BoundedChecks:
    """Runs checks with a deadline; those past it are tracked until they end."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[object]] = set()

    async def run(self, check: Callable[[], Awaitable[T]], timeout_seconds: float) -> T:
        """The check's result; TimeoutError when it has not answered within the deadline."""
        task: asyncio.Task[T] = asyncio.ensure_future(check())
        done, _ = await asyncio.wait({task}, timeout=timeout_seconds)
        if task in done:
            return task.result()
        self._running.add(task)
        task.add_done_callback(self._forget)
        raise TimeoutError

    def _forget(self, task: asyncio.Task[object]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            # Nobody awaits a late check: its outcome must not become an unretrieved error.
            task.exception()

    async def drain(self, grace_seconds: float) -> None:
        """Wait for late checks; those still running after the grace period are cancelled."""
        if not self._running:
            return
        _, pending = await asyncio.wait(set(self._running), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
