"""`corral admin`: offline password resets and user management, checked through the HTTP API."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from pyotp import TOTP
from sqlalchemy import select, update

from corral.audit.models import AuditEvent
from corral.identity.models import MfaBackupCode, User
from tests.cli.support import cli, find_id, shown_once, with_app
from tests.clients import PASSWORD, asgi_client

NEW_PASSWORD = "a brand new passphrase"


def _create(email: str, extra: str = "") -> str:
    result = cli(f"admin create-user --email {email} {extra}", stdin=PASSWORD + "\n")
    return find_id("usr", result.stdout)


def test_reset_password_forces_a_change_at_next_sign_in(db_env: Path, database_url: str) -> None:
    _create("ada@example.com", "--org Acme --password-stdin")
    result = cli("admin reset-password --email Ada@Example.com")
    temporary = shown_once(result.stdout)

    async def check(app: FastAPI) -> None:
        async with asgi_client(app) as c:
            assert (await c.login("ada@example.com", PASSWORD)).status_code == 401
            response = await c.login("ada@example.com", temporary)
            assert response.status_code == 200, response.text
            assert response.json()["user"]["must_change_password"] is True
            blocked = await c.get("/api/apps")
            assert blocked.status_code == 403
            assert blocked.json()["code"] == "password_change_required"
            changed = await c.post(
                "/api/auth/password",
                json={"current_password": temporary, "new_password": NEW_PASSWORD},
            )
            assert changed.status_code == 204, changed.text
            assert (await c.get("/api/apps")).status_code == 200
        async with app.state.container.sessions() as session:
            event = await session.scalar(
                select(AuditEvent).where(AuditEvent.action == "user.password_reset")
            )
        assert event is not None
        assert (event.actor_type, event.request_id) == ("system", "cli")

    with_app(db_env, database_url, check)


def test_reset_password_disable_mfa_clears_mfa(db_env: Path, database_url: str) -> None:
    user_id = _create("grace@example.com", "--password-stdin")

    async def enable_mfa(app: FastAPI) -> None:
        async with app.state.container.sessions.begin() as session:
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(mfa_enabled=True, totp_secret_encrypted="encrypted-totp-secret")
            )

    async def mfa_state(app: FastAPI) -> tuple[bool, str | None]:
        async with app.state.container.sessions() as session:
            user = await session.get(User, user_id)
            assert user is not None
            return user.mfa_enabled, user.totp_secret_encrypted

    with_app(db_env, database_url, enable_mfa)
    cli("admin reset-password --email grace@example.com")
    assert with_app(db_env, database_url, mfa_state) == (True, "encrypted-totp-secret")

    result = cli("admin reset-password --email grace@example.com --disable-mfa")
    assert "Two-factor authentication is now off" in result.stdout
    assert with_app(db_env, database_url, mfa_state) == (False, None)
    listed = json.loads(cli("admin list-users --json").stdout)
    assert [u["mfa_enabled"] for u in listed] == [False]


def test_reset_password_of_unknown_email_fails(db_env: Path) -> None:
    result = cli("admin reset-password --email nobody@example.com", code=1)
    assert "no user with email 'nobody@example.com'" in result.stderr
    assert result.stdout == ""


def test_create_user_then_list_users(db_env: Path, database_url: str) -> None:
    created = cli("admin create-user --email Owner@Example.com --name Olga --org Acme")
    generated = shown_once(created.stdout)
    owner_id = find_id("usr", created.stdout)
    org_id = find_id("org", created.stdout)
    loner_id = _create("loner@example.com", "--password-stdin")

    users = json.loads(cli("admin list-users --json").stdout)
    assert [u["id"] for u in users] == [owner_id, loner_id]
    owner, loner = users
    assert owner["email"] == "owner@example.com"
    assert owner["name"] == "Olga"
    assert owner["orgs"] == [{"id": org_id, "name": "Acme", "role": "owner"}]
    assert owner["must_change_password"] is True
    assert loner["orgs"] == []
    assert loner["must_change_password"] is False
    for user in users:
        assert user["locked"] is False
        assert user["mfa_enabled"] is False
        assert user["created_at"]
        assert not any("password_hash" in key or "totp" in key for key in user)

    table = cli("admin list-users").stdout
    assert "owner@example.com" in table
    assert "Acme" in table
    assert "$argon2" not in table

    async def check(app: FastAPI) -> None:
        async with asgi_client(app) as c:
            response = await c.login("owner@example.com", generated)
            assert response.status_code == 200, response.text
            assert response.json()["user"]["must_change_password"] is True
        async with asgi_client(app) as c:
            assert (await c.login("loner@example.com", PASSWORD)).status_code == 200
            assert (await c.get("/api/me")).json()["memberships"] == []

    with_app(db_env, database_url, check)


def test_create_user_refuses_duplicates_and_weak_passwords(db_env: Path) -> None:
    _create("dup@example.com", "--password-stdin")
    again = cli(
        "admin create-user --email DUP@example.com --password-stdin", stdin=PASSWORD, code=1
    )
    assert "already exists" in again.stderr
    weak = cli(
        "admin create-user --email weak@example.com --password-stdin", stdin="short\n", code=1
    )
    assert "at least" in weak.stderr
    empty = cli("admin create-user --email e@example.com --password-stdin", stdin="", code=1)
    assert "stdin" in empty.stderr
    assert [u["email"] for u in json.loads(cli("admin list-users --json").stdout)] == [
        "dup@example.com"
    ]


def test_reset_password_disable_mfa_lets_a_locked_out_user_back_in(
    db_env: Path, database_url: str
) -> None:
    """A user who lost their authenticator: the operator turns the second factor off offline."""
    _create("hopper@example.com", "--org Navy --password-stdin")

    async def enable_mfa(app: FastAPI) -> None:
        async with asgi_client(app) as c:
            assert (await c.login("hopper@example.com")).status_code == 200
            secret = (await c.post("/api/auth/mfa/enroll")).json()["secret"]
            confirmed = await c.post("/api/auth/mfa/confirm", json={"code": TOTP(secret).now()})
            assert confirmed.status_code == 200
            pending = await c.post(
                "/api/auth/login", json={"email": "hopper@example.com", "password": PASSWORD}
            )
            assert pending.status_code == 202

    with_app(db_env, database_url, enable_mfa)
    temporary = shown_once(
        cli("admin reset-password --email hopper@example.com --disable-mfa").stdout
    )

    async def sign_in(app: FastAPI) -> None:
        async with asgi_client(app) as c:
            response = await c.login("hopper@example.com", temporary)
            assert response.status_code == 200, response.text
            assert response.json()["user"]["mfa_enabled"] is False
        async with app.state.container.sessions() as session:
            assert list(await session.scalars(select(MfaBackupCode))) == []
            actions = list(
                await session.scalars(
                    select(AuditEvent.action).where(AuditEvent.action == "user.mfa_disabled")
                )
            )
        assert actions == ["user.mfa_disabled"]

    with_app(db_env, database_url, sign_in)
