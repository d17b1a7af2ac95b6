"""HTTP conventions: problem+json, idempotency keys, body limits, CORS, request ids."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from corral.api.app import create_app
from corral.container import Container
from corral.core.clock import utcnow
from corral.core.idempotency_models import IdempotencyRecord
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings


async def test_unknown_route_and_method_are_problems(client: ApiClient) -> None:
    missing = await client.get("/api/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    body = missing.json()
    assert body["code"] == "not_found"
    assert body["request_id"] == missing.headers["x-request-id"]
    wrong = await client.put("/api/orgs")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_malformed_json_is_400_and_schema_errors_are_422(client: ApiClient) -> None:
    malformed = await client.post(
        "/api/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "malformed_json"
    invalid = await client.post("/api/auth/register", json={"email": "not-an-email", "password": 1})
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["code"] == "validation_error"
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "email"), ("body", "password")}
    extra = await client.post(
        "/api/auth/register",
        json={"email": "a@example.com", "password": "x" * 20, "is_admin": True},
    )
    assert extra.status_code == 422


async def test_idempotent_creation_replays_the_first_response(owner: ApiClient) -> None:
    headers = {"Idempotency-Key": "create-cust-1"}
    first = await owner.post("/api/end-users", json={"external_id": "c1"}, headers=headers)
    second = await owner.post("/api/end-users", json={"external_id": "c1"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    listed = (await owner.get("/api/end-users")).json()["data"]
    assert len(listed) == 1


async def test_same_key_with_another_body_is_422(owner: ApiClient) -> None:
    headers = {"Idempotency-Key": "k-1"}
    await owner.post("/api/end-users", json={"external_id": "a"}, headers=headers)
    response = await owner.post("/api/end-users", json={"external_id": "b"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_key_in_flight_is_409(owner: ApiClient, app: FastAPI) -> None:
    import hashlib

    container: Container = app.state.container
    cookie = owner.cookies["corral_session"]
    async with container.sessions() as session, session.begin():
        session.add(
            IdempotencyRecord(
                identity_digest=hashlib.sha256(cookie.encode()).hexdigest(),
                idempotency_key="busy",
                request_digest="whatever",
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    response = await owner.post(
        "/api/end-users", json={"external_id": "a"}, headers={"Idempotency-Key": "busy"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_flight"


async def test_idempotency_keys_are_per_caller(owner: ApiClient, stranger: ApiClient) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    mine = await owner.post("/api/end-users", json={"external_id": "x"}, headers=headers)
    theirs = await stranger.post("/api/end-users", json={"external_id": "x"}, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers


async def test_failed_request_is_not_stored(owner: ApiClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    await owner.post("/api/end-users", json={"external_id": "taken"})
    conflict = await owner.post("/api/end-users", json={"external_id": "taken"}, headers=headers)
    assert conflict.status_code == 409
    replay = await owner.post("/api/end-users", json={"external_id": "taken"}, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.status_code == 409


async def test_oversized_body_is_413(tmp_path: Path, database_url: str) -> None:
    application = create_app(make_settings(tmp_path, database_url, max_request_bytes=2048))
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        response = await c.post(
            "/api/auth/register", json={"email": "a@example.com", "password": "x" * 4000}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_request_id_is_echoed_or_made(client: ApiClient) -> None:
    echoed = await client.get("/health", headers={"X-Request-Id": "abc-123-def-456"})
    assert echoed.headers["x-request-id"] == "abc-123-def-456"
    replaced = await client.get("/health", headers={"X-Request-Id": "bad id with spaces\n"})
    assert replaced.headers["x-request-id"].startswith("req_")


async def test_cors_allows_only_exact_origins(tmp_path: Path, database_url: str) -> None:
    application = create_app(
        make_settings(tmp_path, database_url, trusted_origins=["https://console.example.com"])
    )
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await c.options(
            "/api/me", headers={"Origin": "https://console.example.com", **preflight}
        )
        denied = await c.options(
            "/api/me", headers={"Origin": "https://evil.example.com", **preflight}
        )
        simple = await c.get("/health", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://console.example.com"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in denied.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_openapi_documents_every_route(client: ApiClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/orgs",
        "/api/apps",
        "/api/api-keys",
        "/api/api-keys/{key_id}/rotate",
        "/api/api-keys/{key_id}",
        "/api/end-users",
        "/health",
        "/ready",
        "/metrics",
    ]:
        assert path in paths, path
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary") or operation.get("description"), (method, path)
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()  # served locally: air-gapped installs get docs too
    script = await client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000


async def test_nul_characters_are_refused_everywhere(owner: ApiClient) -> None:
    """PostgreSQL text cannot hold NUL, so both tiers refuse it at the edge instead of a 500."""
    body = await owner.post("/api/end-users", json={"external_id": "a\x00b"})
    assert body.status_code == 422
    nested = await owner.post(
        "/api/end-users", json={"external_id": "ok", "metadata": {"k": "a\x00"}}
    )
    assert nested.status_code == 422
    query = await owner.get("/api/end-users", params={"external_id": "a\x00b"})
    assert query.status_code == 400
    assert query.json()["code"] == "invalid_characters"
    path = await owner.get("/api/apps/app_x%00y")
    assert path.status_code == 400
    cursor = await owner.get("/api/end-users", params={"cursor": "YQBi"})
    assert cursor.status_code == 422
    assert cursor.json()["code"] == "invalid_cursor"
