"""Registration, sign-in, sessions, CSRF, lockout, password changes and the sign-up policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.api.app import create_app
from corral.container import Container
from corral.identity.models import User
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.conftest import make_settings


async def test_register_creates_org_with_default_app_and_signs_in(client: ApiClient) -> None:
    data = await client.register("ada@example.com", org="Analytical Engines")
    assert data["user"]["email"] == "ada@example.com"
    me = (await client.get("/api/me")).json()
    assert me["kind"] == "user"
    assert [m["role"] for m in me["memberships"]] == ["owner"]
    assert me["memberships"][0]["org_name"] == "Analytical Engines"
    apps = (await client.get("/api/apps")).json()
    assert [(a["name"], a["is_default"]) for a in apps] == [("default", True)]
    assert me["application_id"] == apps[0]["id"]


async def test_session_cookie_is_httponly_and_samesite(client: ApiClient) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": "c@example.com", "password": PASSWORD}
    )
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("corral_session="))
    assert "HttpOnly" in session
    assert "samesite=lax" in session.lower()
    csrf = next(c for c in cookies if c.startswith("corral_csrf="))
    assert "HttpOnly" not in csrf


async def test_email_is_unique_case_insensitively(client: ApiClient, app: FastAPI) -> None:
    await client.register("Grace@Example.com")
    async with asgi_client(app) as other:
        response = await other.post(
            "/api/auth/register", json={"email": "grace@example.COM", "password": PASSWORD}
        )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


async def test_weak_password_is_refused(client: ApiClient) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": "a@example.com", "password": "short"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "weak_password"


async def test_login_logout_roundtrip(owner: ApiClient, app: FastAPI) -> None:
    async with asgi_client(app) as c:
        assert (await c.get("/api/me")).status_code == 401
        response = await c.login(owner.email)
        assert response.status_code == 200
        assert (await c.get("/api/me")).status_code == 200
        assert (await c.post("/api/auth/logout")).status_code == 204
        assert (await c.get("/api/me")).status_code == 401


async def test_wrong_password_and_unknown_email_look_the_same(
    owner: ApiClient, app: FastAPI
) -> None:
    async with asgi_client(app) as c:
        wrong = await c.login(owner.email, "not the password at all")
        unknown = await c.login("nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"


async def test_cookie_mutation_without_csrf_token_is_refused(owner: ApiClient) -> None:
    token = owner.headers.pop("X-CSRF-Token")
    response = await owner.post("/api/orgs", json={"name": "No CSRF"})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    forged = await owner.post(
        "/api/orgs", json={"name": "Forged"}, headers={"X-CSRF-Token": "x" + token}
    )
    assert forged.status_code == 403
    owner.headers["X-CSRF-Token"] = token
    assert (await owner.post("/api/orgs", json={"name": "With CSRF"})).status_code == 201


async def test_api_key_requests_need_no_csrf(owner: ApiClient, app: FastAPI) -> None:
    key = await owner.create_key(["end_users:write", "end_users:read"])
    async with asgi_client(app, token=key["key"]) as c:
        response = await c.post("/api/end-users", json={"external_id": "cust-1"})
    assert response.status_code == 201


async def test_repeated_failures_lock_the_account(owner: ApiClient, app: FastAPI) -> None:
    container: Container = app.state.container
    limit = container.settings.auth.login_max_failures
    async with asgi_client(app) as c:
        for _ in range(limit):
            assert (await c.login(owner.email, "wrong password " * 2)).status_code == 401
        locked = await c.login(owner.email)
    assert locked.status_code == 401
    assert locked.json()["code"] == "account_locked"
    assert int(locked.headers["Retry-After"]) > 0


async def test_password_change_signs_out_other_sessions(owner: ApiClient, app: FastAPI) -> None:
    async with asgi_client(app) as second:
        assert (await second.login(owner.email)).status_code == 200
        new_password = "an entirely new passphrase"
        response = await owner.post(
            "/api/auth/password", json={"current_password": PASSWORD, "new_password": new_password}
        )
        assert response.status_code == 204
        assert (await owner.get("/api/me")).status_code == 200
        assert (await second.get("/api/me")).status_code == 401
        assert (await second.login(owner.email)).status_code == 401
        assert (await second.login(owner.email, new_password)).status_code == 200


async def test_wrong_current_password_is_refused(owner: ApiClient) -> None:
    response = await owner.post(
        "/api/auth/password", json={"current_password": "nope nope nope", "new_password": "x" * 20}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_current_password"


async def test_login_rehashes_when_parameters_change(tmp_path: Path, database_url: str) -> None:
    weak = make_settings(tmp_path, database_url, auth={"argon2_time_cost": 1})
    app = create_app(weak)
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        await c.register("rehash@example.com")
    stronger = make_settings(tmp_path, database_url, auth={"argon2_time_cost": 2})
    app = create_app(stronger)
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        assert (await c.login("rehash@example.com")).status_code == 200
        container: Container = app.state.container
        async with container.sessions() as session:
            stored = await session.scalar(
                select(User.password_hash).where(User.email == "rehash@example.com")
            )
    assert stored is not None
    assert "t=2" in stored


@pytest.mark.parametrize("allow_signup", [False])
async def test_closed_signup_admits_first_user_and_invitees_only(
    tmp_path: Path, database_url: str, allow_signup: bool
) -> None:
    app = create_app(make_settings(tmp_path, database_url, auth={"allow_signup": allow_signup}))
    async with (
        app.router.lifespan_context(app),
        asgi_client(app) as first,
        asgi_client(app) as late,
    ):
        await first.register("founder@example.com", org="Founders")
        refused = await late.post(
            "/api/auth/register", json={"email": "late@example.com", "password": PASSWORD}
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "signup_disabled"
        invitation = await first.post(
            f"/api/orgs/{first.org_id}/invitations",
            json={"email": "late@example.com", "role": "viewer"},
        )
        assert invitation.status_code == 201
        await late.register("late@example.com", invitation_token=invitation.json()["token"])
        me = (await late.get("/api/me")).json()
        assert [(m["org_id"], m["role"]) for m in me["memberships"]] == [(first.org_id, "viewer")]
        reused = await late.post(
            "/api/auth/register",
            json={
                "email": "late@example.com",
                "password": PASSWORD,
                "invitation_token": invitation.json()["token"],
            },
        )
        assert reused.status_code == 422
        assert reused.json()["code"] == "invalid_invitation"


async def test_invitation_for_another_email_is_refused(owner: ApiClient, app: FastAPI) -> None:
    invitation = (
        await owner.post(f"/api/orgs/{owner.org_id}/invitations", json={"email": "bob@example.com"})
    ).json()
    async with asgi_client(app) as eve:
        response = await eve.post(
            "/api/auth/register",
            json={
                "email": "eve@example.com",
                "password": PASSWORD,
                "invitation_token": invitation["token"],
            },
        )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_invitation"
