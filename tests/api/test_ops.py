"""Probes and metrics: /health never touches the database, /ready checks live, /metrics scrapes."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from psycopg import sql
from sqlalchemy import event
from structlog.testing import capture_logs

from corral import __version__
from corral.api.app import create_app
from corral.container import Container
from corral.core.db import create_engine
from corral.core.settings import Settings
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.services import postgres_url, redis_url

PROBES = ("/health", "/ready", "/metrics")
# A safety net so that a hanging probe fails the test instead of stalling the run.
HANG_GUARD_SECONDS = 10.0


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, ApiClient]]:
    """The app with its lifespan running, and a client on it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield app, client


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def eventually(predicate: Callable[[], bool], *, attempts: int = 1000) -> None:
    """Poll a background loop's observable state until it holds (bounded: about 10 s)."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached while polling")


def loops_have_beaten(container: Container) -> bool:
    enabled = [s for s in container.loops.status() if s.enabled]
    return bool(enabled) and all(s.last_heartbeat_at is not None for s in enabled)


async def get(client: ApiClient, path: str, **kwargs: Any) -> httpx2.Response:
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        return await client.get(path, **kwargs)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung database."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"postgresql://corral@127.0.0.1:{listener.getsockname()[1]}/corral"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A reachable database with no tables and no migrations applied."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = postgres_url()
    name = f"corral_ops_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- /health -------------------------------------------------------------------------------


async def test_health_shape(client: ApiClient) -> None:
    response = await get(client, "/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "uptime_ms", "version", "checks"}
    assert body["status"] == "healthy"
    assert isinstance(body["uptime_ms"], int)
    assert body["uptime_ms"] >= 0
    assert body["version"] == __version__
    assert body["checks"] == {}


async def test_health_never_touches_the_database(app: FastAPI, client: ApiClient) -> None:
    container = container_of(app)
    checkouts: list[object] = []

    def count(*_: object) -> None:
        checkouts.append(object())

    event.listen(container.engine.sync_engine, "checkout", count)
    try:
        assert (await get(client, "/ready")).status_code == 200
        assert checkouts, "the checkout counter must see /ready's queries"
        checkouts.clear()
        for _ in range(3):
            assert (await get(client, "/health")).status_code == 200
        assert checkouts == []
    finally:
        event.remove(container.engine.sync_engine, "checkout", count)


async def test_health_answers_with_the_database_gone(app: FastAPI, client: ApiClient) -> None:
    container = container_of(app)
    original = container.engine
    broken = create_engine("postgresql+psycopg://corral@127.0.0.1:1/corral")
    container.engine = broken
    try:
        health = await get(client, "/health")
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        # The swap is effective: the live readiness check does see the broken database.
        ready = await get(client, "/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["status"] == "fail"
    finally:
        container.engine = original
        await broken.dispose()


async def test_health_reports_loops_and_database_probe(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, loops={"enabled": True})
    async with running(settings) as (app, client):
        container = container_of(app)
        await eventually(lambda: "database" in container.probes.results)
        await eventually(lambda: loops_have_beaten(container))
        body = (await get(client, "/health")).json()
        assert body["status"] == "healthy"
        assert body["checks"]["database"]["status"] == "ok"
        assert {"latency_ms", "checked_at"} <= set(body["checks"]["database"])
        loop_names = {f"loop:{s.name}" for s in container.loops.status() if s.enabled}
        assert loop_names <= set(body["checks"])
        assert all(body["checks"][name]["status"] == "ok" for name in loop_names)
        # Stopped loops make the process degraded, not dead: liveness still answers 200.
        await container.loops.stop()
        stopped = await get(client, "/health")
        assert stopped.status_code == 200
        assert stopped.json()["status"] == "degraded"
        assert all(stopped.json()["checks"][n]["status"] == "fail" for n in loop_names)


async def test_health_is_unhealthy_when_the_database_probe_fails(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        "postgresql://corral@127.0.0.1:1/corral",
        auto_migrate=False,
        loops={
            "enabled": True,
            "disabled": [
                "session_cleanup",
                "idempotency_cleanup",
                "trace_retention",
                "decision_retention",
                "inline_run_retention",
                "scheduler",
                "budget_monitor",
                "webhook_delivery",
                "audit_anchor",
                "approval_expiry",
            ],
        },
    )
    # Captured rather than rendered: the failing probe logs a traceback on every iteration.
    with capture_logs() as logs:
        async with running(settings) as (app, client):
            container = container_of(app)
            await eventually(lambda: "database" in container.probes.results)
            response = await get(client, "/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["database"]["reason"]
    assert any(e["event"] == "loop.iteration_failed" for e in logs)


# --- /ready --------------------------------------------------------------------------------


async def test_ready_checks_database_and_migrations(client: ApiClient) -> None:
    response = await get(client, "/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert check["latency_ms"] >= 0
        assert check.get("reason") is None


async def test_ready_checks_every_enabled_loop(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        loops={
            "enabled": True,
            "disabled": [
                "idempotency_cleanup",
                "trace_retention",
                "decision_retention",
                "inline_run_retention",
                "scheduler",
                "budget_monitor",
                "webhook_delivery",
                "audit_anchor",
                "approval_expiry",
            ],
        },
    )
    async with running(settings) as (app, client):
        container = container_of(app)
        await eventually(lambda: loops_have_beaten(container))
        response = await get(client, "/ready")
        assert response.status_code == 200, response.text
        checks = response.json()["checks"]
        enabled = {f"loop:{s.name}" for s in container.loops.status() if s.enabled}
        assert enabled == {"loop:database_probe", "loop:session_cleanup"}
        assert set(checks) == {"database", "migrations"} | enabled
        assert all(c["status"] == "ok" for c in checks.values())
        # A loop that is no longer running makes the replica not ready.
        await container.loops.stop()
        stopped = await get(client, "/ready")
        assert stopped.status_code == 503
        body = stopped.json()
        assert body["status"] == "not_ready"
        for name in enabled:
            assert body["checks"][name]["status"] == "fail"
            assert body["checks"][name]["reason"]
        assert body["checks"]["database"]["status"] == "ok"


async def test_ready_is_503_until_migrations_reach_head(
    tmp_path: Path, empty_database_url: str
) -> None:
    settings = make_settings(tmp_path, empty_database_url, auto_migrate=False)
    async with running(settings) as (_, client):
        response = await get(client, "/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not_ready"
        assert body["checks"]["database"]["status"] == "ok"
        migrations = body["checks"]["migrations"]
        assert migrations["status"] == "fail"
        assert "head" in migrations["reason"]


@pytest.mark.parametrize("where", ["postgres-wrong-port", "sqlite-missing-directory"])
async def test_ready_is_503_when_the_database_is_unreachable(tmp_path: Path, where: str) -> None:
    url = (
        "postgresql://corral@127.0.0.1:1/corral"
        if where == "postgres-wrong-port"
        else f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'corral.db'}"
    )
    settings = make_settings(tmp_path / "data", url, auto_migrate=False)
    async with running(settings) as (_, client):
        response = await get(client, "/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    for name in ("database", "migrations"):
        assert body["checks"][name]["status"] == "fail"
        assert body["checks"][name]["reason"]


async def test_ready_bounds_each_check_when_the_database_hangs(
    tmp_path: Path, silent_server: str
) -> None:
    settings = make_settings(tmp_path, silent_server, auto_migrate=False)
    async with running(settings) as (_, client):
        response = await get(client, "/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    for name in ("database", "migrations"):
        assert checks[name]["status"] == "fail"
        assert checks[name]["reason"] == "no answer within 500 ms"


async def test_ready_checks_redis_when_configured(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, redis_url=redis_url())
    async with running(settings) as (_, client):
        response = await get(client, "/ready")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["redis"]["status"] == "ok"


async def test_ready_is_503_when_redis_is_unreachable(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, redis_url="redis://127.0.0.1:1/0")
    async with running(settings) as (_, client):
        response = await get(client, "/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["status"] == "fail"
    assert checks["redis"]["reason"]
    assert checks["database"]["status"] == "ok"


# --- /metrics ------------------------------------------------------------------------------


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


async def test_metrics_are_prometheus_text_with_route_templates(
    owner: ApiClient, client: ApiClient
) -> None:
    created = await owner.post("/api/end-users", json={"external_id": "customer-42"})
    assert created.status_code == 201, created.text
    end_user_id = created.json()["id"]
    assert (await owner.get(f"/api/end-users/{end_user_id}")).status_code == 200
    assert (await owner.get("/api/end-users/eu_does_not_exist")).status_code == 404
    assert (await client.get(f"/no/such/page/{uuid.uuid4().hex}")).status_code == 404

    response = await get(client, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "corral_http_requests_total",
        "corral_http_request_duration_seconds",
        "corral_db_pool",
        "corral_loop_",
        "corral_rate_limit_rejections_total",
    ):
        assert name in text, name
    assert end_user_id not in text
    assert "eu_does_not_exist" not in text

    parsed = samples(text)
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in parsed
        if s.name == "corral_http_requests_total"
    }
    assert requests[("GET", "/api/end-users/{end_user_id}", "200")] == 1.0
    assert requests[("GET", "/api/end-users/{end_user_id}", "404")] == 1.0
    assert requests[("POST", "/api/end-users", "201")] == 1.0
    assert requests[("GET", "<unmatched>", "404")] == 1.0
    durations = {
        s.labels["route"] for s in parsed if s.name == "corral_http_request_duration_seconds_count"
    }
    assert "/api/end-users/{end_user_id}" in durations
    names = {s.name for s in parsed}
    assert {"corral_db_pool_connections_in_use", "corral_db_pool_size"} <= names
    healthy = {s.labels["loop"] for s in parsed if s.name == "corral_loop_healthy"}
    assert healthy == {
        "database_probe",
        "session_cleanup",
        "idempotency_cleanup",
        "trace_retention",
        "decision_retention",
        "inline_run_retention",
        "scheduler",
        "budget_monitor",
        "webhook_delivery",
        "audit_anchor",
        "approval_expiry",
    }
    assert "corral_rate_limit_rejections_total" in names


async def test_probes_are_not_rate_limited_and_need_no_auth(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        rate_limit={"enabled": True, "burst": 1, "requests_per_second": 0.001},
    )
    async with running(settings) as (_, client):
        # The limiter is live: the second API request from the same address is refused.
        assert (await client.get("/api/me")).status_code == 401
        limited = await client.get("/api/me")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"]
        for _ in range(10):
            for path in PROBES:
                response = await get(client, path)
                assert response.status_code == 200, (path, response.text)
                assert "x-ratelimit-limit" not in response.headers
        # A bad credential does not matter to a probe either.
        for path in PROBES:
            response = await get(
                client, path, headers={"Authorization": "Bearer crl_not_a_real_key"}
            )
            assert response.status_code == 200, (path, response.text)
        rejections = [
            s.value
            for s in samples((await get(client, "/metrics")).text)
            if s.name == "corral_rate_limit_rejections_total"
        ]
        assert rejections == [1.0]
