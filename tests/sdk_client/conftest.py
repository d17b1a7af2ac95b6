"""A real Corral server on a free port, an owner's API key, and clients of the SDK against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from corral.api.app import create_app
from corral.container import Container
from corral_sdk import Client
from tests.clients import PASSWORD
from tests.conftest import make_settings
from tests.servers import ThreadedServer

SCOPES = ["policies:read", "policies:write", "traces:write", "traces:read"]
# Tests decide when the bundle is revalidated (`client.refresh()`), not a timer.
NEVER = 3600.0


# How long tests wait for the test server, far beyond what it takes on an idle machine.
SERVER_TIMEOUT_SECONDS = 30.0


class Corral:
    """The running server and an API client holding a key with every scope the SDK uses."""

    def __init__(self, server: ThreadedServer, container: Container) -> None:
        self.server = server
        self.container = container
        self.base_url = server.base_url
        self.http = httpx2.Client(base_url=server.base_url, timeout=SERVER_TIMEOUT_SECONDS)
        self.key = self.create_key(SCOPES, register=True)
        self.http.headers["Authorization"] = f"Bearer {self.key}"

    def create_key(self, scopes: list[str], *, register: bool = False) -> str:
        if register:
            body = {"email": "sdk@example.com", "password": PASSWORD, "organization_name": "SDK"}
            signed_in = self.http.post("/api/auth/register", json=body)
        else:
            signed_in = self.http.post(
                "/api/auth/login", json={"email": "sdk@example.com", "password": PASSWORD}
            )
        assert signed_in.status_code in (200, 201), signed_in.text
        csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
        auth = self.http.headers.pop("Authorization", None)
        created = self.http.post(
            "/api/api-keys", json={"name": "sdk", "scopes": scopes}, headers=csrf
        )
        assert created.status_code == 201, created.text
        self.http.cookies.clear()
        if auth is not None:
            self.http.headers["Authorization"] = auth
        key: str = created.json()["key"]
        return key

    def create_policy(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"expression": "true", "priority": 100, **fields}
        response = self.http.post("/api/policies", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def set_posture(self, posture: str) -> None:
        response = self.http.put("/api/policies/settings", json={"default_posture": posture})
        assert response.status_code == 200, response.text

    def decisions(self, **params: str) -> list[dict[str, Any]]:
        """Recorded decision evidence, after the ingest queue is written."""
        self.server.call(self.container.ingest.flush())
        response = self.http.get("/api/decisions", params=params)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["data"]
        return rows

    def trace(self, trace_id: str) -> dict[str, Any]:
        self.server.call(self.container.ingest.flush())
        response = self.http.get(f"/api/traces/{trace_id}")
        assert response.status_code == 200, response.text
        trace: dict[str, Any] = response.json()
        return trace

    def stop(self) -> None:
        self.server.__exit__(None, None, None)


@pytest.fixture
def corral(tmp_path: Path, database_url: str) -> Iterator[Corral]:
    app = create_app(make_settings(tmp_path, database_url))
    with ThreadedServer(app) as server:
        running = Corral(server, app.state.container)
        try:
            yield running
        finally:
            running.http.close()


@pytest.fixture
def client(corral: Corral) -> Iterator[Client]:
    """A client of the server's application, revalidating only when a test says so."""
    # A loaded CI machine can take seconds to answer; the SDK's default timeout would then
    # turn the first bundle download into "no bundle yet" and every check into an allow.
    sdk = Client(
        corral.key,
        corral.base_url,
        agent="ops-bot",
        refresh_interval_seconds=NEVER,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
    )
    try:
        yield sdk
    finally:
        sdk.close()
