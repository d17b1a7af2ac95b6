"""The per-application ingest settings cache: fresh entries, revision checks, invalidation."""

from __future__ import annotations

from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy import update

from corral.traces.ingest_config import IngestConfigCache, IngestDefaults
from corral.traces.models import IngestSettings
from tests.clients import ApiClient
from tests.traces.support import container_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_entries_are_checked_by_revision_after_their_ttl(
    owner: ApiClient, app: FastAPI
) -> None:
    await owner.patch("/api/settings/ingest", json={"sampling_rate": 0.5})
    await owner.put("/api/prices/my-model", json={"input": 1, "output": 2})
    sessions = container_of(app).sessions
    clock = FakeClock()
    cache = IngestConfigCache(IngestDefaults(), hash_secret=b"s" * 32, ttl_seconds=5.0, clock=clock)
    async with sessions() as session:
        config = await cache.get(session, owner.app_id)
    assert (config.sampling_rate, config.revision, cache.loads) == (0.5, 2, 1)
    assert config.price_overrides["my-model"].output == Decimal(2)

    # Another replica changes the settings: this one notices after its TTL, not before.
    async with sessions.begin() as session:
        await session.execute(
            update(IngestSettings)
            .where(IngestSettings.application_id == owner.app_id)
            .values(sampling_rate=0.25, revision=IngestSettings.revision + 1)
        )
    async with sessions() as session:
        assert (await cache.get(session, owner.app_id)).sampling_rate == 0.5
        clock.now += 6
        assert (await cache.get(session, owner.app_id)).sampling_rate == 0.25
        assert cache.loads == 2
        # Unchanged revision after the TTL: one small query, no reload.
        clock.now += 6
        assert (await cache.get(session, owner.app_id)).revision == 3
        assert cache.loads == 2


async def test_a_change_made_here_applies_once_committed(owner: ApiClient, app: FastAPI) -> None:
    sessions = container_of(app).sessions
    cache = IngestConfigCache(
        IngestDefaults(sampling_rate=0.75), hash_secret=b"s" * 32, ttl_seconds=3600.0
    )
    async with sessions() as session:
        assert (await cache.get(session, owner.app_id)).sampling_rate == 0.75
    async with sessions() as session:
        await session.begin()
        cache.invalidate_after_commit(session, owner.app_id)
        await session.rollback()
    async with sessions() as session:
        await cache.get(session, owner.app_id)
    assert cache.loads == 1  # a rolled-back change keeps the entry
    async with sessions.begin() as session:
        cache.invalidate_after_commit(session, owner.app_id)
    async with sessions() as session:
        await cache.get(session, owner.app_id)
    assert cache.loads == 2


async def test_applications_with_equal_settings_share_a_redactor(
    owner: ApiClient, stranger: ApiClient, app: FastAPI
) -> None:
    redaction = {"redaction": {"pii_entities": ["email", "phone"]}}
    for client in (owner, stranger):
        assert (await client.patch("/api/settings/ingest", json=redaction)).status_code == 200
    cache = container_of(app).ingest_config
    async with container_of(app).sessions() as session:
        ours = await cache.get(session, owner.app_id)
        theirs = await cache.get(session, stranger.app_id)
        default = await cache.get(session, "app_without_settings")
    assert ours.redactor is theirs.redactor
    assert ours.redactor is not default.redactor
    assert default.redactor is cache.default_redactor
    # The hash action keys each application differently: those redactors are never shared.
    assert cache.hash_key(owner.app_id) != cache.hash_key(stranger.app_id)
