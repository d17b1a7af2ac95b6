"""Recording when API keys were last used, outside the requests that use them.

A read-only request must not write in its own unit of work (SQLite would take the write lock),
and must not open a second connection while holding its first: a burst of first requests on a
fresh key would then hold every pooled connection while each waits for one more. So the write
runs as a task of its own after the check, at most one in flight per key in this process.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.db import transaction
from corral.identity.access import touch_api_key

logger = logging.getLogger(__name__)


class KeyUsageRecorder:
    """Writes `last_used_at` of API keys in background tasks, one in flight per key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def schedule(self, key_id: str) -> None:
        """Record a use of the key soon; a no-op while a record for it is in flight."""
        if key_id in self._in_flight:
            return
        task = asyncio.get_running_loop().create_task(self._record(key_id))
        self._in_flight[key_id] = task
        task.add_done_callback(lambda _: self._in_flight.pop(key_id, None))

    async def _record(self, key_id: str) -> None:
        try:
            async with transaction(self._sessions) as session:
                await touch_api_key(session, key_id)
        except Exception:
            # Best effort: a lost `last_used_at` update must never fail or slow a request.
            logger.warning("could not record the use of API key %s", key_id, exc_info=True)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def drain(self) -> None:
        """Wait for every record in flight (shutdown, and tests that read `last_used_at`)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values())
