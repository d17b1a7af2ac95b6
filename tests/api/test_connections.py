"""Connections API: credentials go in encrypted and never come out; owners and tenants apart."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

from corral.audit.models import AuditEvent
from corral.connections import credentials
from corral.connections.models import Connection
from corral.core.crypto import DecryptionFailed
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of

SECRET = "sk_live_do_not_leak_4242"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "crm",
        "auth": {"type": "header", "name": "X-Api-Key", "value": SECRET},
        "authorized_uris": ["https://crm.example.com/api/**"],
        **changes,
    }


async def create(client: ApiClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/connections", json=body(**changes))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_credentials_are_write_only_and_encrypted(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner)
    assert created["auth"] == {"type": "header", "name": "X-Api-Key", "username": None}
    assert created["key_id"] == container_of(app).keyring.active_kid
    for response in (
        await owner.get(f"/api/connections/{created['id']}"),
        await owner.get("/api/connections"),
    ):
        assert SECRET not in response.text
    async with container_of(app).engine.connect() as conn:
        raw = (await conn.execute(text("SELECT * FROM connections"))).all()
        audit = (await conn.execute(text("SELECT * FROM audit_events"))).all()
    assert SECRET not in repr(raw)
    assert SECRET not in repr(audit)
    async with container_of(app).sessions() as session:
        stored = await session.get(Connection, created["id"])
        assert stored is not None
        opened = credentials.open_secret(container_of(app).keyring, stored)
    assert opened == {"value": SECRET}


async def test_each_auth_kind(owner: ApiClient) -> None:
    kinds = [
        ({"type": "query", "name": "api_key", "value": "q"}, {"name": "api_key"}),
        ({"type": "bearer", "token": "t"}, {}),
        ({"type": "basic", "username": "ada", "password": "p"}, {"username": "ada"}),
    ]
    for number, (auth, public) in enumerate(kinds):
        created = await create(owner, name=f"c{number}", auth=auth)
        assert created["auth"] == {"type": auth["type"], "name": None, "username": None, **public}


async def test_invalid_definitions_name_the_field(owner: ApiClient) -> None:
    cases = [
        (body(authorized_uris=[]), "authorized_uris"),
        (body(authorized_uris=["https://*.example.com/"]), "authorized_uris"),
        (body(authorized_uris=["https://x.example.com/"] * 51), "authorized_uris"),
        (body(auth={"type": "header", "name": "Host", "value": "x"}), "auth"),
        (body(auth={"type": "basic", "username": "a:b", "password": "x"}), "auth"),
        (body(auth={"type": "oauth", "token": "x"}), "auth"),
        (body(auth={"type": "bearer", "token": "nul\x00"}), "auth"),
    ]
    for payload, field in cases:
        response = await owner.post("/api/connections", json=payload)
        assert response.status_code == 422, (field, response.text)
        assert any(error["loc"][:2] == ["body", field] for error in response.json()["errors"])


async def test_update_replaces_credentials_and_audits_without_secrets(
    owner: ApiClient, app: FastAPI
) -> None:
    created = await create(owner)
    changed = await owner.patch(
        f"/api/connections/{created['id']}",
        json={"auth": {"type": "bearer", "token": "new-secret-9"}, "description": "rotated"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["auth"]["type"] == "bearer"
    async with container_of(app).sessions() as session:
        stored = await session.get(Connection, created["id"])
        assert stored is not None
        assert credentials.open_secret(container_of(app).keyring, stored) == {
            "token": "new-secret-9"
        }
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == created["id"])
            )
        )
    assert sorted(actions) == ["connection.created", "connection.updated"]
    assert (await owner.delete(f"/api/connections/{created['id']}")).status_code == 204
    assert (await owner.get(f"/api/connections/{created['id']}")).status_code == 404


async def test_names_are_unique_per_owner(owner: ApiClient, app: FastAPI) -> None:
    await create(owner)
    again = await owner.post("/api/connections", json=body())
    assert again.status_code == 409
    assert again.json()["code"] == "connection_name_taken"
    key = await owner.create_key(["end_users:write", "connections:write", "connections:read"])
    async with asgi_client(app, token=key["key"]) as c:
        end_user = (await c.post("/api/end-users", json={"external_id": "u1"})).json()
    # The same name for an end-user is another connection.
    mine = await create(owner, end_user_id=end_user["id"])
    assert mine["end_user_id"] == end_user["id"]


async def test_an_end_user_key_sees_only_its_own(owner: ApiClient, app: FastAPI) -> None:
    app_level = await create(owner)
    key = await owner.create_key(["end_users:write", "connections:write", "connections:read"])
    async with asgi_client(app, token=key["key"]) as c:
        alice = (await c.post("/api/end-users", json={"external_id": "alice"})).json()
        bob = (await c.post("/api/end-users", json={"external_id": "bob"})).json()
        as_alice = {"Corral-End-User": alice["id"]}
        created = await c.post("/api/connections", json=body(), headers=as_alice)
        assert created.status_code == 201, created.text
        assert created.json()["end_user_id"] == alice["id"]
        for_bob = await c.post(
            "/api/connections", json=body(name="x", end_user_id=bob["id"]), headers=as_alice
        )
        assert for_bob.status_code == 201
        assert for_bob.json()["end_user_id"] == alice["id"], "impersonation decides the owner"
        listed = (await c.get("/api/connections", headers=as_alice)).json()["data"]
        assert {row["end_user_id"] for row in listed} == {alice["id"]}
        hidden = await c.get(f"/api/connections/{app_level['id']}", headers=as_alice)
        assert hidden.status_code == 404
        as_bob = {"Corral-End-User": bob["id"]}
        theirs = await c.get(f"/api/connections/{created.json()['id']}", headers=as_bob)
        assert theirs.status_code == 404


async def test_another_tenant_cannot_reach_connections(
    owner: ApiClient, stranger: ApiClient
) -> None:
    mine = await create(owner)
    path = f"/api/connections/{mine['id']}"
    for method, payload in [("GET", None), ("PATCH", {"description": "x"}), ("DELETE", None)]:
        response = await stranger.request(method, path, json=payload)
        assert response.status_code == 404, (method, response.text)
    assert (await stranger.get("/api/connections")).json()["data"] == []
    foreign_owner = await stranger.post(
        "/api/connections", json=body(end_user_id="eu_01m8t8sp9beqz97e8pmsh9gyf0")
    )
    assert foreign_owner.status_code == 404


async def test_a_ciphertext_moved_to_another_tenant_does_not_decrypt(
    owner: ApiClient, stranger: ApiClient, app: FastAPI
) -> None:
    mine = await create(owner)
    theirs = await create(stranger)
    container = container_of(app)
    async with container.sessions() as session, session.begin():
        source = await session.get(Connection, mine["id"])
        assert source is not None
        await session.execute(
            update(Connection)
            .where(Connection.id == theirs["id"])
            .values(secret_ciphertext=source.secret_ciphertext)
        )
    async with container.sessions() as session:
        target = await session.get(Connection, theirs["id"])
        assert target is not None
        with pytest.raises(DecryptionFailed):
            credentials.open_secret(container.keyring, target)
