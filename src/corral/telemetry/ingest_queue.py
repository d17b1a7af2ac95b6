"""A bounded in-process queue of ingested spans, drained by one batched writer task.

The queue never grows past `max_items`: `offer` refuses a whole request that does not fit
(`QueueFull`, answered with 503 and `Retry-After`), so memory stays bounded under overload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from corral.core.errors import Unavailable

ItemT = TypeVar("ItemT")
Sink = Callable[[list[ItemT]], Awaitable[None]]

RETRY_AFTER_SECONDS = 1
_log = structlog.get_logger(__name__)


class QueueFull(Unavailable):
    code = "ingest_queue_full"
    title = "Ingest queue full"


class IngestQueue(Generic[ItemT]):
    """Spans waiting to be written; one writer task takes up to `batch_size` at a time."""

    def __init__(self, sink: Sink[ItemT], *, max_items: int, batch_size: int = 500) -> None:
        if max_items < 1 or batch_size < 1:
            raise ValueError("max_items and batch_size must be positive")
        self._sink = sink
        self.max_items = max_items
        self.batch_size = batch_size
        self._items: deque[ItemT] = deque()
        self._in_flight = 0
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.accepted = 0
        self.rejected = 0
        self.dropped = 0
        self.write_failures = 0

    @property
    def depth(self) -> int:
        return len(self._items) + self._in_flight

    def offer(self, items: Sequence[ItemT]) -> None:
        """Enqueue all of `items` or none: raise `QueueFull` when they would not fit."""
        if len(self._items) + len(items) > self.max_items:
            self.dropped += len(items)
            raise QueueFull(
                "the ingest queue is full; retry later",
                extra={"retry_after_seconds": RETRY_AFTER_SECONDS},
            )
        self._items.extend(items)
        self.accepted += len(items)
        if items:
            self._wake.set()

    def record_rejected(self, count: int) -> None:
        self.rejected += count

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Write what is queued (within `grace_seconds`), then stop the writer."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), grace_seconds)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def flush(self) -> None:
        """Wait until everything enqueued so far has been written (or dropped on failure)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.depth == 0)

    async def _run(self) -> None:
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._items.popleft() for _ in range(min(self.batch_size, len(self._items)))]
            self._in_flight = len(batch)
            try:
                await self._sink(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the writer must survive a failed batch
                self.write_failures += 1
                self.dropped += len(batch)
                _log.exception("ingest.write_failed", spans=len(batch))
            finally:
                self._in_flight = 0
                async with self._changed:
                    self._changed.notify_all()
