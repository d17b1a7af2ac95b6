"""What ingest applies to one application's spans, cached per application.

`IngestConfigCache.get` answers from memory while an entry is fresh (`ttl_seconds`); after that it
reads the application's settings revision (one indexed single-row query per request, never per
span) and rebuilds only when the revision moved. A change made through this replica invalidates
its entry as soon as the change commits; other replicas see it within `ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.telemetry.cost import ModelPrice, PriceOverrides
from corral.telemetry.redact import (
    DEFAULT_PII_ENTITIES,
    Action,
    RedactionSettings,
    Redactor,
    uses_hash,
)
from corral.traces.models import IngestSettings, ModelPriceOverride

_HASH_KEY_PURPOSE = b"corral/redaction-hash/v1/"
_MAX_REDACTORS = 256


@dataclass(frozen=True, slots=True)
class IngestDefaults:
    """Server-wide values an application's settings fall back to."""

    sampling_rate: float = 1.0
    token_threshold: int | None = 5000
    retention_days: int = 30


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """The resolved ingest behaviour for one application."""

    redactor: Redactor
    price_overrides: PriceOverrides
    sampling_rate: float
    token_threshold: int | None
    revision: int


def redaction_settings(row: IngestSettings | None, hash_key: bytes | None) -> RedactionSettings:
    """The redaction settings a stored row describes (the defaults without a row)."""
    if row is None:
        return RedactionSettings()
    settings = RedactionSettings(
        enabled=row.redaction_enabled,
        credentials=row.credentials,
        pii_entities=(
            DEFAULT_PII_ENTITIES if row.pii_entities is None else frozenset(row.pii_entities)
        ),
        allowlist=frozenset(row.allowlist),
        key_actions=_actions(row.key_actions),
        actions=_actions(row.detector_actions),
        default_action=_action(row.default_action),
        disabled_detectors=frozenset(row.disabled_detectors),
    )
    return dataclasses.replace(settings, hash_key=hash_key) if uses_hash(settings) else settings


def _action(value: str) -> Action:
    if value in ("redact", "mask", "hash", "delete"):
        return value  # type: ignore[return-value]
    raise ValueError(f"stored redaction action {value!r} is not one Corral knows")


def _actions(values: dict[str, str]) -> dict[str, Action]:
    return {key: _action(value) for key, value in values.items()}


@dataclass(slots=True)
class _Entry:
    config: IngestConfig
    fresh_until: float


class IngestConfigCache:
    """Per-application `IngestConfig`s, bounded in number, checked by revision."""

    def __init__(
        self,
        defaults: IngestDefaults,
        *,
        hash_secret: bytes,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.defaults = defaults
        self._hash_secret = hash_secret
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._redactors: OrderedDict[bytes, Redactor] = OrderedDict()
        self.default_redactor = Redactor(RedactionSettings())
        self.loads = 0
        """Full loads (settings row and price overrides), for tests and debugging."""

    async def get(self, session: AsyncSession, application_id: str) -> IngestConfig:
        now = self._clock()
        entry = self._entries.get(application_id)
        if entry is not None and now < entry.fresh_until:
            self._entries.move_to_end(application_id)
            return entry.config
        revision = await session.scalar(
            select(IngestSettings.revision).where(IngestSettings.application_id == application_id)
        )
        if entry is not None and entry.config.revision == (revision or 0):
            entry.fresh_until = now + self._ttl
            self._entries.move_to_end(application_id)
            return entry.config
        config = await self._load(session, application_id)
        self._entries[application_id] = _Entry(config, now + self._ttl)
        self._entries.move_to_end(application_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return config

    def invalidate(self, application_id: str) -> None:
        self._entries.pop(application_id, None)

    def invalidate_after_commit(self, session: AsyncSession, application_id: str) -> None:
        """Drop the entry once `session` commits (so no replica caches the old value again)."""

        def forget(_: Any) -> None:
            self.invalidate(application_id)

        event.listen(session.sync_session, "after_commit", forget, once=True)

    def hash_key(self, application_id: str) -> bytes:
        """The application's key for the `hash` action: stable, and different per application."""
        message = _HASH_KEY_PURPOSE + application_id.encode()
        return hmac.new(self._hash_secret, message, hashlib.sha256).digest()

    async def _load(self, session: AsyncSession, application_id: str) -> IngestConfig:
        self.loads += 1
        row = await session.scalar(
            select(IngestSettings)
            .where(IngestSettings.application_id == application_id)
            .execution_options(populate_existing=True)
        )
        overrides = await session.scalars(
            select(ModelPriceOverride).where(ModelPriceOverride.application_id == application_id)
        )
        prices = PriceOverrides.of(
            {o.model: ModelPrice(o.input, o.output, o.cache_read, o.cache_write) for o in overrides}
        )
        sampling_rate = self.defaults.sampling_rate
        if row is not None and row.sampling_rate is not None:
            sampling_rate = row.sampling_rate
        return IngestConfig(
            redactor=await self._redactor(row, application_id),
            price_overrides=prices,
            sampling_rate=sampling_rate,
            token_threshold=self.defaults.token_threshold,
            revision=row.revision if row is not None else 0,
        )

    async def _redactor(self, row: IngestSettings | None, application_id: str) -> Redactor:
        settings = redaction_settings(row, self.hash_key(application_id))
        if settings == RedactionSettings():
            return self.default_redactor
        described = {
            f.name: sorted(value) if isinstance(value, frozenset) else value
            for f in dataclasses.fields(settings)
            if f.name != "hash_key" and (value := getattr(settings, f.name)) is not None
        }
        key = orjson.dumps(described, option=orjson.OPT_SORT_KEYS) + (settings.hash_key or b"")
        redactor = self._redactors.get(key)
        if redactor is None:
            # Compiling the pattern set takes tens of milliseconds: not on the event loop.
            redactor = await asyncio.to_thread(Redactor, settings)
            self._redactors[key] = redactor
            while len(self._redactors) > _MAX_REDACTORS:
                self._redactors.popitem(last=False)
        self._redactors.move_to_end(key)
        return redactor
