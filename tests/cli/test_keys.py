"""`corral keys create`: a key made offline authenticates over HTTP with its app and scopes."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.core.ids import new_id
from corral.identity.permissions import KEY_SCOPES
from tests.cli.support import cli, find_id, shown_once, with_app
from tests.clients import PASSWORD, asgi_client


def _application() -> str:
    created = cli(
        "admin create-user --email keys@example.com --org Acme --password-stdin", stdin=PASSWORD
    )
    return find_id("app", created.stdout)


def test_created_key_authenticates_with_its_app_and_scopes(db_env: Path, database_url: str) -> None:
    app_id = _application()
    result = cli(
        f"keys create --app {app_id} --scope end_users:read --scope apps:read --scope apps:read"
        " --name 'deploy bot' --expires-in-days 30"
    )
    token = shown_once(result.stdout)
    assert token.startswith("crl_")
    key_id = find_id("key", result.stdout)
    assert re.search(r"^Expires: \d{4}-", result.stdout, re.MULTILINE)

    async def check(app: FastAPI) -> None:
        async with asgi_client(app, token=token) as c:
            response = await c.get("/api/me")
            assert response.status_code == 200, response.text
            me = response.json()
            assert me["kind"] == "api_key"
            assert me["application_id"] == app_id
            assert me["permissions"] == ["apps:read", "end_users:read"]
            assert me["api_key"]["id"] == key_id
            assert me["api_key"]["name"] == "deploy bot"
            assert me["api_key"]["expires_at"] is not None
            # A scope the key lacks is refused.
            assert (await c.get("/api/api-keys")).status_code == 403
        async with app.state.container.sessions() as session:
            event = await session.scalar(
                select(AuditEvent).where(AuditEvent.action == "api_key.created")
            )
        assert event is not None
        assert (event.actor_type, event.request_id) == ("system", "cli")
        assert (event.target_id, event.application_id) == (key_id, app_id)
        assert event.details["scopes"] == ["apps:read", "end_users:read"]

    with_app(db_env, database_url, check)


def test_unknown_scope_is_refused_with_the_valid_ones(cli_env: Path) -> None:
    result = cli(
        f"keys create --app {new_id('app')} --scope apps:read --scope everything:write", code=1
    )
    assert "everything:write" in result.stderr
    for scope in KEY_SCOPES:
        assert scope in result.stderr
    assert "crl_" not in result.stdout


def test_unknown_application_is_refused(db_env: Path) -> None:
    for app_id in (new_id("app"), "app_not-an-id", new_id("org")):
        result = cli(f"keys create --app {app_id} --scope apps:read", code=1)
        assert f"no application '{app_id}'" in result.stderr
        assert "crl_" not in result.stdout
