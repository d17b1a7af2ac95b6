"""On SQLite, reads begin deferred (no write lock) and writes begin immediate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests.clients import ApiClient


@pytest.fixture
def begins(app: FastAPI) -> Iterator[list[str]]:
    engine = app.state.container.engine.sync_engine
    if engine.dialect.name != "sqlite":
        pytest.skip("BEGIN modes are SQLite's")
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def test_reads_begin_deferred_and_writes_immediate(
    owner: ApiClient, begins: list[str]
) -> None:
    assert (await owner.get("/api/end-users")).status_code == 200
    assert begins == ["BEGIN"]
    begins.clear()
    assert (await owner.post("/api/end-users", json={"external_id": "w"})).status_code == 201
    assert begins == ["BEGIN IMMEDIATE"]


async def test_trace_ingest_request_takes_no_write_lock(
    owner: ApiClient, begins: list[str]
) -> None:
    """The batched writer writes; the request only authenticates, so it must not block it."""
    key = await owner.create_key(["traces:write"])
    begins.clear()
    response = await owner.post(
        "/v1/traces",
        content=b"{}",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key['key']}"},
    )
    assert response.status_code == 200
    # The request's own transaction is deferred; a brief separate one may record last use.
    assert begins[0] == "BEGIN"
