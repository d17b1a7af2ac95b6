"""Wake-ups for whoever waits on an approval (a long-poll, a hosted run's tool call).

In-process waiters wake at once. With Redis configured, a resolution is also published on one
channel, and each process's listener wakes its own waiters, so a decision taken on one replica
reaches a run waiting on another within milliseconds. Without Redis, a waiter in another
process (or one woken by `corral approvals` talking to another replica) finds out at its next
slow database poll: the database is the source of truth either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import redis.asyncio as redis_asyncio
import structlog

_log = structlog.get_logger(__name__)

CHANNEL = "corral:approvals:resolved"


class ApprovalSignals:
    def __init__(self, redis: redis_asyncio.Redis | None = None) -> None:
        self._redis = redis
        self._waiters: dict[str, asyncio.Event] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def _wake(self, approval_id: str) -> None:
        event = self._waiters.pop(approval_id, None)
        if event is not None:
            event.set()

    async def resolved(self, approval_ids: Iterable[str]) -> None:
        """These requests were resolved (call after the commit)."""
        ids = list(approval_ids)
        for approval_id in ids:
            self._wake(approval_id)
        if self._redis is None or not ids:
            return
        try:
            for approval_id in ids:
                await self._redis.publish(CHANNEL, approval_id)
        except Exception as exc:  # noqa: BLE001 — remote waiters fall back to polling
            _log.warning("approvals.publish_failed", error=type(exc).__name__)

    async def wait(self, approval_id: str, within: float) -> None:
        """Return when the request is resolved or after `within` seconds, whichever is first."""
        if self._redis is not None:
            await self._ensure_listening()
        event = self._waiters.setdefault(approval_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)

    async def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._subscribed.clear()
            self._listener = asyncio.create_task(self._listen())
        # Subscribed before the caller's first read, so no publish falls between the two.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 2.0)

    async def _listen(self) -> None:
        assert self._redis is not None
        try:
            async with self._redis.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = message.get("data")
                    self._wake(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — waiters poll; the next wait listens again
            _log.warning("approvals.listener_failed", error=type(exc).__name__)
        finally:
            self._subscribed.set()

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
