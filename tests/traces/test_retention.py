"""Retention: per-application days, bounded batches, and PostgreSQL's daily partitions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from corral.core.clock import utcnow
from corral.traces import partitions
from corral.traces.models import Span, Trace
from corral.traces.retention import enforce_retention
from tests.clients import ApiClient, asgi_client
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import WRITER_SCOPES, container_of, send_and_store, span_id, trace_id

DAY = timedelta(days=1)


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


async def _send_aged(app: FastAPI, client: ApiClient, now: datetime, ages: list[int]) -> None:
    spans = [
        otlp.span(
            name=f"{age}d",
            trace_id=trace_id(100 + age),
            span_id=span_id(100 + age),
            start=_nanos(now - age * DAY),
            end=_nanos(now - age * DAY) + 1000,
        )
        for age in ages
    ]
    await send_and_store(app, client, spans)


def _by_age(names: list[str | None]) -> list[str]:
    return sorted((n for n in names if n), key=lambda n: int(n[:-1]))


async def _kept(app: FastAPI, application_id: str) -> tuple[list[str], list[str]]:
    """Names of the application's stored spans and trace roots, youngest first."""
    async with container_of(app).sessions() as session:
        spans = await session.scalars(
            select(Span.name).where(Span.application_id == application_id)
        )
        traces = await session.scalars(
            select(Trace.root_name).where(Trace.application_id == application_id)
        )
        return _by_age(list(spans)), _by_age(list(traces))


@pytest.fixture
async def second(owner: ApiClient, app: FastAPI) -> AsyncIterator[ApiClient]:
    """A key of a second application of the owner's organization."""
    created = await owner.post("/api/apps", json={"name": "short-lived"})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    response = await owner.post(
        "/api/api-keys",
        json={"name": "second", "scopes": WRITER_SCOPES},
        headers={"Corral-Application": app_id},
    )
    assert response.status_code == 201, response.text
    async with asgi_client(app, token=response.json()["key"]) as c:
        c.app_id = app_id
        yield c


async def _retention(app: FastAPI, now: datetime, **kwargs: int) -> object:
    container = container_of(app)
    return await enforce_retention(
        container.engine, container.sessions, default_days=30, now=now, **kwargs
    )


async def test_each_application_keeps_its_own_days(
    writer: ApiClient, second: ApiClient, app: FastAPI
) -> None:
    now = utcnow()
    third_id = (await writer.get("/api/me")).json()["application_id"]
    assert third_id == writer.app_id
    week = await second.patch("/api/settings/ingest", json={"retention_days": 7})
    assert week.status_code == 200, week.text
    await _send_aged(app, writer, now, [40, 10, 1])
    await _send_aged(app, second, now, [40, 10, 1])

    await _retention(app, now)
    assert await _kept(app, writer.app_id) == (["1d", "10d"], ["1d", "10d"])
    assert await _kept(app, second.app_id) == (["1d"], ["1d"])

    # 0 keeps everything forever.
    forever = await writer.patch("/api/settings/ingest", json={"retention_days": 0})
    assert forever.json()["effective_retention_days"] == 0
    await _send_aged(app, writer, now, [400])
    await _retention(app, now + 100 * DAY)
    assert await _kept(app, writer.app_id) == (["1d", "10d", "400d"], ["1d", "10d", "400d"])
    assert await _kept(app, second.app_id) == ([], [])


async def test_deletes_are_bounded_per_tick(writer: ApiClient, app: FastAPI) -> None:
    now = utcnow()
    await _send_aged(app, writer, now, [31, 32, 33, 34, 35, 1])
    await _retention(app, now, batch_rows=2, max_batches=1)
    spans, _ = await _kept(app, writer.app_id)
    if container_of(app).engine.dialect.name == "sqlite":
        assert len(spans) == 4  # one batch of two
    await _retention(app, now, batch_rows=2, max_batches=10)
    assert await _kept(app, writer.app_id) == (["1d"], ["1d"])


async def _partition_counts(app: FastAPI) -> dict[str, int]:
    async with container_of(app).engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tableoid::regclass::text, count(*) FROM spans GROUP BY tableoid ORDER BY 1"
            )
        )
        return {str(name): int(count) for name, count in rows}


async def _partition_names(app: FastAPI) -> set[str]:
    async with container_of(app).engine.connect() as conn:
        return {p.name for p in await partitions.day_partitions(conn)}


async def test_postgres_partitions_are_created_filled_and_dropped(
    writer: ApiClient, second: ApiClient, app: FastAPI
) -> None:
    if container_of(app).engine.dialect.name != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")
    now = utcnow()
    today = partitions.DayPartition(now.date())
    # Spans of days without a partition land in the default partition.
    await _send_aged(app, writer, now, [45, 12])
    await _send_aged(app, second, now, [12])
    assert (await _partition_counts(app))["spans_default"] >= 3

    await _retention(app, now)
    names = await _partition_names(app)
    ahead = [partitions.DayPartition(now.date() + n * DAY) for n in range(-1, 4)]
    assert {p.name for p in ahead} <= names
    twelve_days = partitions.DayPartition((now - 12 * DAY).date())
    assert twelve_days.name in names  # a kept day stranded in the default got its partition
    assert partitions.DayPartition((now - 45 * DAY).date()).name not in names
    counts = await _partition_counts(app)
    assert counts[twelve_days.name] == 2
    assert counts.get("spans_default", 0) == 0  # the 45-day span was deleted, not moved
    assert await _kept(app, writer.app_id) == (["12d"], ["12d"])

    # Later, the second application keeps 7 days: its rows go one by one, while the partition
    # (still inside the first application's 30 days) stays.
    await second.patch("/api/settings/ingest", json={"retention_days": 7})
    await _retention(app, now)
    assert twelve_days.name in await _partition_names(app)
    assert await _kept(app, second.app_id) == ([], [])
    assert await _kept(app, writer.app_id) == (["12d"], ["12d"])

    # A month on, the whole day is past every application's retention: its partition goes.
    await _retention(app, now + 25 * DAY)
    names = await _partition_names(app)
    assert twelve_days.name not in names
    assert today.name in names
    assert await _kept(app, writer.app_id) == ([], [])
    # Exporter retries still deduplicate on the partitioned table.
    await _send_aged(app, writer, now, [0])
    await _send_aged(app, writer, now, [0])
    assert await _kept(app, writer.app_id) == (["0d"], ["0d"])
    async with container_of(app).sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Span)) == 1
