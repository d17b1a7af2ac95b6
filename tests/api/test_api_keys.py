"""API keys: shown once, stored hashed, scoped, capped by the creator's role, rotated, revoked."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select, text, update

from corral.container import Container
from corral.core.clock import utcnow
from corral.identity.models import ApiKey
from tests.clients import ApiClient, asgi_client


async def test_key_is_shown_once_and_stored_only_as_digest(owner: ApiClient, app: FastAPI) -> None:
    created = await owner.create_key(["end_users:read"])
    token = created["key"]
    assert token.startswith("crl_")
    assert len(token) >= 4 + 43  # 32 random bytes in url-safe base64
    fetched = (await owner.get(f"/api/api-keys/{created['id']}")).json()
    assert "key" not in fetched
    assert fetched["lookup_prefix"] == token[:12]
    container: Container = app.state.container
    async with container.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
    assert token not in repr(rows)


async def test_key_authenticates_and_records_last_use(owner: ApiClient, app: FastAPI) -> None:
    created = await owner.create_key(["end_users:read"])
    assert created["last_used_at"] is None
    async with asgi_client(app, token=created["key"]) as c:
        me = (await c.get("/api/me")).json()
    await app.state.container.key_usage.drain()
    assert me["kind"] == "api_key"
    assert me["application_id"] == owner.app_id
    assert me["permissions"] == ["end_users:read"]
    assert (await owner.get(f"/api/api-keys/{created['id']}")).json()["last_used_at"] is not None


async def test_scopes_are_enforced(owner: ApiClient, app: FastAPI) -> None:
    created = await owner.create_key(["end_users:read"])
    async with asgi_client(app, token=created["key"]) as c:
        response = await c.post("/api/end-users", json={"external_id": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


async def test_unknown_scope_is_refused(owner: ApiClient) -> None:
    response = await owner.post(
        "/api/api-keys", json={"name": "k", "scopes": ["everything:please"]}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_scope"
    scopes = {s["scope"] for s in (await owner.get("/api/api-keys/scopes")).json()}
    assert "traces:write" in scopes
    assert "org:delete" not in scopes


async def test_key_cannot_exceed_its_creators_role(owner: ApiClient, app: FastAPI) -> None:
    invitation = (
        await owner.post(
            f"/api/orgs/{owner.org_id}/invitations",
            json={"email": "m@example.com", "role": "member"},
        )
    ).json()
    async with asgi_client(app) as member:
        await member.register("m@example.com", invitation_token=invitation["token"])
        ok = await member.post("/api/api-keys", json={"name": "k", "scopes": ["runs:write"]})
        assert ok.status_code == 201
        response = await member.post(
            "/api/api-keys", json={"name": "k", "scopes": ["policies:write"]}
        )
    assert response.status_code == 403
    assert response.json()["code"] == "scope_exceeds_caller"


async def test_key_cannot_mint_a_broader_key(owner: ApiClient, app: FastAPI) -> None:
    narrow = await owner.create_key(["api_keys:write", "end_users:read"])
    async with asgi_client(app, token=narrow["key"]) as c:
        broader = await c.post("/api/api-keys", json={"name": "k", "scopes": ["end_users:write"]})
        same = await c.post("/api/api-keys", json={"name": "k", "scopes": ["end_users:read"]})
    assert broader.status_code == 403
    assert same.status_code == 201


async def test_rotation_keeps_old_key_for_the_grace_period(owner: ApiClient, app: FastAPI) -> None:
    old = await owner.create_key(["end_users:read"])
    rotated = await owner.post(f"/api/api-keys/{old['id']}/rotate")
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["key"] != old["key"]
    assert new["scopes"] == old["scopes"]
    old_after = (await owner.get(f"/api/api-keys/{old['id']}")).json()
    assert old_after["replaced_by_id"] == new["id"]
    assert old_after["expires_at"] is not None
    async with asgi_client(app, token=old["key"]) as c:
        assert (await c.get("/api/me")).status_code == 200
    again = await owner.post(f"/api/api-keys/{old['id']}/rotate")
    assert again.status_code == 409
    # The grace period ends: the old key stops working, the new one goes on.
    container: Container = app.state.container
    async with container.sessions() as session, session.begin():
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == old["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    async with asgi_client(app, token=old["key"]) as c:
        expired = await c.get("/api/me")
    assert expired.status_code == 401
    assert expired.json()["code"] == "api_key_expired"
    async with asgi_client(app, token=new["key"]) as c:
        assert (await c.get("/api/me")).status_code == 200


async def test_revoked_key_is_refused_at_once(owner: ApiClient, app: FastAPI) -> None:
    created = await owner.create_key(["end_users:read"])
    revoked = await owner.delete(f"/api/api-keys/{created['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    async with asgi_client(app, token=created["key"]) as c:
        response = await c.get("/api/me")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expiry_must_be_in_the_future(owner: ApiClient) -> None:
    past = (utcnow() - timedelta(days=1)).isoformat()
    response = await owner.post(
        "/api/api-keys", json={"name": "k", "scopes": ["runs:read"], "expires_at": past}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_expiry"


async def test_malformed_and_unknown_keys(app: FastAPI) -> None:
    for header in [
        "Bearer crl_unknownunknownunknownunknown",
        "Bearer nope",
        "Basic abc",
        "Bearer ",
    ]:
        async with asgi_client(app) as c:
            response = await c.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"] == "application/problem+json"


async def test_listing_is_paginated(owner: ApiClient) -> None:
    for i in range(3):
        await owner.create_key(["runs:read"], name=f"k{i}")
    first = (await owner.get("/api/api-keys", params={"limit": 2})).json()
    assert len(first["data"]) == 2
    second = (
        await owner.get("/api/api-keys", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert len(second["data"]) == 1
    assert second["next_cursor"] is None


async def test_dev_seed_key_has_every_scope(tmp_path: object, database_url: str) -> None:
    from pathlib import Path

    from corral.api.app import create_app
    from corral.identity.permissions import KEY_SCOPES
    from tests.conftest import make_settings

    assert isinstance(tmp_path, Path)
    application = create_app(make_settings(tmp_path, database_url, auth={"seed_dev": True}))
    async with application.router.lifespan_context(application):
        async with asgi_client(application, token="crl_dev_local_do_not_use_in_production") as c:
            me = (await c.get("/api/me")).json()
        container: Container = application.state.container
        async with container.sessions() as session:
            count = len((await session.scalars(select(ApiKey))).all())
    assert set(me["permissions"]) == KEY_SCOPES
    assert count == 1


async def test_a_burst_of_first_reads_on_a_fresh_key_all_succeed(
    owner: ApiClient, app: FastAPI
) -> None:
    # More concurrent reads than the pool has connections: none may wait on a second one.
    created = await owner.create_key(["end_users:read"])
    async with asgi_client(app, token=created["key"]) as c:
        responses = await asyncio.gather(*(c.get("/api/end-users") for _ in range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    recorder = app.state.container.key_usage
    await recorder.drain()
    assert (await owner.get(f"/api/api-keys/{created['id']}")).json()["last_used_at"] is not None


async def test_key_use_is_recorded_once_while_a_record_is_in_flight(app: FastAPI) -> None:
    recorder = app.state.container.key_usage
    recorder.schedule("key_that_does_not_exist")
    recorder.schedule("key_that_does_not_exist")
    assert recorder.in_flight == 1
    await recorder.drain()
    assert recorder.in_flight == 0
