"""Active halts per application, cached for a fraction of a second.

The sidecar and the decision API check halts on every call; a cached list keeps that to a
dictionary lookup, and the short TTL bounds how late a halt made on another replica is seen
(`ttl_seconds`, 0.5 s by default). A halt made or cleared through this process drops the
application's entry at once (`invalidate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.db import READ_ONLY
from corral.governance.halts import service
from corral.governance.halts.matching import ActiveHalt, Subject, first_covering

DEFAULT_TTL_SECONDS = 0.5
MAX_APPLICATIONS = 4096


@dataclass(frozen=True, slots=True)
class _Entry:
    halts: tuple[ActiveHalt, ...]
    loaded_at: float


class HaltCache:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self.loads = 0

    def invalidate(self, application_id: str | None = None) -> None:
        if application_id is None:
            self._entries.clear()
        else:
            self._entries.pop(application_id, None)

    async def active(
        self, application_id: str, session: AsyncSession | None = None
    ) -> tuple[ActiveHalt, ...]:
        """`session`: a caller that holds one (a request) loads through it, so a burst of
        requests never waits on the pool for a second connection each."""
        now = self._clock()
        entry = self._entries.get(application_id)
        if entry is not None and now - entry.loaded_at < self._ttl:
            return entry.halts
        if session is not None:
            halts = tuple(await service.active(session, application_id))
        else:
            async with self._sessions() as own, own.begin():
                await own.connection(execution_options={READ_ONLY: True})
                halts = tuple(await service.active(own, application_id))
        self.loads += 1
        if len(self._entries) >= MAX_APPLICATIONS:
            self._entries.clear()
        self._entries[application_id] = _Entry(halts, now)
        return halts

    async def covering(
        self, application_id: str, subject: Subject, session: AsyncSession | None = None
    ) -> ActiveHalt | None:
        return first_covering(await self.active(application_id, session), subject)
