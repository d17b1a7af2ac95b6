"""The dev seed key holds the provider scopes, also when it was seeded before they existed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from corral.api.app import create_app
from corral.identity.models import ApiKey
from corral.identity.permissions import KEY_SCOPES
from tests.clients import asgi_client
from tests.conftest import make_settings

DEV_KEY = "crl_dev_local_do_not_use_in_production"


async def _boot_and_read_permissions(tmp_path: Path, database_url: str) -> set[str]:
    app = create_app(make_settings(tmp_path, database_url, auth={"seed_dev": True}))
    async with app.router.lifespan_context(app), asgi_client(app, token=DEV_KEY) as client:
        permissions: set[str] = set((await client.get("/api/me")).json()["permissions"])
        return permissions


async def test_an_older_dev_key_gains_the_new_scopes_at_boot(
    tmp_path: Path, database_url: str
) -> None:
    assert {"providers:read", "providers:write"} <= await _boot_and_read_permissions(
        tmp_path, database_url
    )
    app = create_app(make_settings(tmp_path, database_url))
    async with (
        app.router.lifespan_context(app),
        app.state.container.sessions() as session,
        session.begin(),
    ):
        await session.execute(update(ApiKey).values(scopes=["apps:read"]))
    assert await _boot_and_read_permissions(tmp_path, database_url) == KEY_SCOPES
