"""Finding the provider a run's model reference names, key decrypted, for the model gateway.

A provider id is a system provider's (CORRAL_SYSTEM_PROVIDER_KEYS) or one of the run's
application's own (`prov_…`); another application's provider is as absent as a missing one.
Application providers are cached for a few seconds per process, so a run's model calls do not
each read and decrypt the key; a changed or deleted provider applies within that time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.crypto import EncryptionKeyring
from corral.core.ids import is_well_formed
from corral.core.settings import ProviderApi, SystemProvider
from corral.providers import keys
from corral.providers.models import ApplicationProvider
from corral.providers.service import ID_PREFIX

DEFAULT_CACHE_SECONDS = 10.0
MAX_CACHED = 4096


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    """Where and how to call a provider. Holds the key: never log it, never send it to a run."""

    id: str
    api: ProviderApi
    base_url: str
    api_key: str
    models: tuple[str, ...]
    source: str

    def __repr__(self) -> str:
        return f"ProviderEndpoint(id={self.id!r}, api={self.api!r}, base_url={self.base_url!r})"


class ProviderRegistry:
    """System providers by id, and application providers loaded (and cached) on demand."""

    def __init__(
        self,
        system: Sequence[SystemProvider],
        sessions: async_sessionmaker[AsyncSession],
        keyring: EncryptionKeyring,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._system = {
            p.id: ProviderEndpoint(
                p.id, p.api, p.base_url, p.api_key.get_secret_value(), tuple(p.models), "system"
            )
            for p in system
        }
        self._sessions = sessions
        self._keyring = keyring
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[float, ProviderEndpoint | None]] = (
            OrderedDict()
        )

    async def find(self, application_id: str, provider_id: str) -> ProviderEndpoint | None:
        """The provider, or None when the application cannot use one of that id."""
        system = self._system.get(provider_id)
        if system is not None:
            return system
        if not is_well_formed(provider_id, ID_PREFIX):
            return None
        key = (application_id, provider_id)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        found = await self._load(application_id, provider_id)
        self._cache[key] = (now + self._ttl, found)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return found

    def forget(self, application_id: str, provider_id: str) -> None:
        self._cache.pop((application_id, provider_id), None)

    async def _load(self, application_id: str, provider_id: str) -> ProviderEndpoint | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(ApplicationProvider).where(
                    ApplicationProvider.id == provider_id,
                    ApplicationProvider.application_id == application_id,
                )
            )
            if row is None:
                return None
            return ProviderEndpoint(
                row.id,
                "anthropic-messages" if row.api == "anthropic-messages" else "openai-chat",
                row.base_url,
                keys.open_key(self._keyring, row),
                tuple(row.models),
                "application",
            )
