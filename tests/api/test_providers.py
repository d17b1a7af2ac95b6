"""Providers API: system providers listed read-only, application keys encrypted and write-only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

from corral.api.app import create_app
from corral.audit.models import AuditEvent
from corral.core.crypto import DecryptionFailed
from corral.core.settings import Settings
from corral.providers import keys
from corral.providers.models import ApplicationProvider
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.traces.support import container_of

SECRET = "sk-app-do-not-leak-0123456789abcd"
SYSTEM_SECRET = "sk-system-do-not-leak-42"
SYSTEM = {
    "id": "openai",
    "label": "OpenAI (system)",
    "api": "openai-chat",
    "base_url": "https://api.openai.example/v1",
    "api_key": SYSTEM_SECRET,
    "models": ["gpt-4o-mini"],
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, system_provider_keys=[SYSTEM])


def body(**changes: Any) -> dict[str, Any]:
    return {
        "label": "Our Anthropic",
        "api": "anthropic-messages",
        "base_url": "https://api.anthropic.example/v1/",
        "api_key": SECRET,
        "models": ["claude-sonnet-4-5"],
        **changes,
    }


async def create(client: ApiClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/providers", json=body(**changes))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_system_providers_are_listed_without_their_key(owner: ApiClient) -> None:
    response = await owner.get("/api/providers")
    assert response.status_code == 200, response.text
    assert SYSTEM_SECRET not in response.text
    assert response.json()["data"] == [
        {
            "id": "openai",
            "source": "system",
            "label": "OpenAI (system)",
            "api": "openai-chat",
            "base_url": "https://api.openai.example/v1",
            "models": ["gpt-4o-mini"],
            "key_hint": None,
            "key_id": None,
            "created_at": None,
            "updated_at": None,
        }
    ]
    one = await owner.get("/api/providers/openai")
    assert one.status_code == 200
    assert one.json()["source"] == "system"
    for method, payload in [("PATCH", {"label": "x"}), ("DELETE", None)]:
        refused = await owner.request(method, "/api/providers/openai", json=payload)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "provider_read_only"


async def test_keys_are_write_only_and_encrypted(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner)
    assert created["id"].startswith("prov_")
    assert created["source"] == "application"
    assert created["base_url"] == "https://api.anthropic.example/v1"
    assert created["key_hint"] == SECRET[-4:]
    assert created["key_id"] == container_of(app).keyring.active_kid
    for response in (
        await owner.get(f"/api/providers/{created['id']}"),
        await owner.get("/api/providers"),
    ):
        assert response.status_code == 200
        assert SECRET not in response.text
    listed = (await owner.get("/api/providers")).json()["data"]
    assert [row["id"] for row in listed] == ["openai", created["id"]]
    async with container_of(app).engine.connect() as conn:
        raw = (await conn.execute(text("SELECT * FROM model_providers"))).all()
        audit = (await conn.execute(text("SELECT * FROM audit_events"))).all()
    assert SECRET not in repr(raw)
    assert SECRET not in repr(audit)
    async with container_of(app).sessions() as session:
        stored = await session.get(ApplicationProvider, created["id"])
        assert stored is not None
        assert keys.open_key(container_of(app).keyring, stored) == SECRET


async def test_a_short_key_shows_no_hint(owner: ApiClient) -> None:
    created = await create(owner, api_key="short-key")
    assert created["key_hint"] is None


async def test_update_replaces_the_key_and_audits(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner)
    path = f"/api/providers/{created['id']}"
    changed = await owner.patch(
        path, json={"api_key": "sk-rotated-000000000000wxyz", "models": ["a", "b", "a"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["key_hint"] == "wxyz"
    assert changed.json()["models"] == ["a", "b"]
    async with container_of(app).sessions() as session:
        stored = await session.get(ApplicationProvider, created["id"])
        assert stored is not None
        assert keys.open_key(container_of(app).keyring, stored) == "sk-rotated-000000000000wxyz"
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == created["id"])
            )
        )
    assert sorted(actions) == ["provider.created", "provider.updated"]
    assert (await owner.delete(path)).status_code == 204
    assert (await owner.get(path)).status_code == 404


async def test_invalid_definitions_name_the_field(owner: ApiClient) -> None:
    cases = [
        (body(api="openai-responses"), "api"),
        (body(base_url="ftp://example.com"), "base_url"),
        (body(base_url="https://user:pw@example.com/v1"), "base_url"),
        (body(base_url="https://example.com/v1?key=1"), "base_url"),
        (body(models=[]), "models"),
        (body(models=["has space"]), "models"),
        (body(api_key=""), "api_key"),
        (body(unknown=1), "unknown"),
    ]
    for payload, field in cases:
        response = await owner.post("/api/providers", json=payload)
        assert response.status_code == 422, (field, response.text)
        assert any(error["loc"][:2] == ["body", field] for error in response.json()["errors"])
        assert SECRET not in response.text


@pytest.fixture
async def production_owner(tmp_path: Path, database_url: str) -> AsyncIterator[ApiClient]:
    settings = make_settings(
        tmp_path, database_url, env="production", public_url="https://corral.example.com"
    )
    app = create_app(settings)
    # Production's session cookie is Secure: the client must speak https to keep it.
    transport = httpx2.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        ApiClient(transport=transport, base_url="https://corral.example.com") as client,
    ):
        await client.register("prod@example.com", org="Prod")
        yield client


async def test_production_wants_https_to_public_hosts(production_owner: ApiClient) -> None:
    for url in (
        "http://api.example.com/v1",
        "https://127.0.0.1:8000/v1",
        "https://10.0.0.7/v1",
        "https://169.254.169.254/latest",
        "https://localhost/v1",
        "https://[::1]/v1",
    ):
        response = await production_owner.post("/api/providers", json=body(base_url=url))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["code"] == "invalid_base_url"
    accepted = await production_owner.post(
        "/api/providers", json=body(base_url="https://api.example.com/v1")
    )
    assert accepted.status_code == 201, accepted.text


async def test_scopes_are_enforced(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner)
    reader = await owner.create_key(["providers:read"])
    async with asgi_client(app, token=reader["key"]) as c:
        assert (await c.get(f"/api/providers/{created['id']}")).status_code == 200
        refused = await c.post("/api/providers", json=body())
        assert refused.status_code == 403
        assert refused.json()["code"] == "missing_scope"
    nothing = await owner.create_key(["agents:read"])
    async with asgi_client(app, token=nothing["key"]) as c:
        assert (await c.get("/api/providers")).status_code == 403
        assert (await c.get("/api/providers/openai")).status_code == 403


async def test_another_tenant_cannot_reach_providers(owner: ApiClient, stranger: ApiClient) -> None:
    mine = await create(owner)
    path = f"/api/providers/{mine['id']}"
    for method, payload in [("GET", None), ("PATCH", {"label": "x"}), ("DELETE", None)]:
        response = await stranger.request(method, path, json=payload)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "provider_not_found"
    listed = (await stranger.get("/api/providers")).json()["data"]
    assert [row["id"] for row in listed] == ["openai"]


async def test_a_ciphertext_moved_to_another_tenant_does_not_decrypt(
    owner: ApiClient, stranger: ApiClient, app: FastAPI
) -> None:
    mine = await create(owner)
    theirs = await create(stranger)
    container = container_of(app)
    async with container.sessions() as session, session.begin():
        source = await session.get(ApplicationProvider, mine["id"])
        assert source is not None
        await session.execute(
            update(ApplicationProvider)
            .where(ApplicationProvider.id == theirs["id"])
            .values(key_ciphertext=source.key_ciphertext)
        )
    async with container.sessions() as session:
        target = await session.get(ApplicationProvider, theirs["id"])
        assert target is not None
        with pytest.raises(DecryptionFailed):
            keys.open_key(container.keyring, target)
