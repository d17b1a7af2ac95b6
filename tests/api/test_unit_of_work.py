"""The request's transaction ends before the response: a failed commit is an error, not a 201."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.clients import ApiClient


async def test_commit_failure_is_reported_not_swallowed(
    owner: ApiClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = app.state.container

    def fail_commit(session: Session, *_: Any) -> None:
        raise RuntimeError("disk full")

    sync_session_class = container.sessions.class_.sync_session_class
    event.listen(sync_session_class, "before_commit", fail_commit)
    try:
        response = await owner.post("/api/end-users", json={"external_id": "never"})
    finally:
        event.remove(sync_session_class, "before_commit", fail_commit)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert (await owner.get("/api/end-users")).json()["data"] == []
