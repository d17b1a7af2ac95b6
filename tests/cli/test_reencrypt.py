"""`corral admin reencrypt`: every stored secret moves to the active key; failures are named."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from corral.api.app import create_app
from corral.connections import credentials
from corral.connections.models import Connection
from tests.cli.support import cli, with_app
from tests.clients import asgi_client
from tests.conftest import make_settings

NEW_KEY = "k2:" + base64.b64encode(b"\x07" * 32).decode()


async def _seed(app: FastAPI) -> list[str]:
    async with asgi_client(app) as c:
        await c.register("ops@example.com", org="Ops")
        ids = []
        for number in range(3):
            response = await c.post(
                "/api/connections",
                json={
                    "name": f"svc-{number}",
                    "auth": {"type": "bearer", "token": f"token-{number}"},
                    "authorized_uris": ["https://svc.example.com/**"],
                },
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids


async def _key_ids_and_secrets(app: FastAPI) -> list[tuple[str, dict[str, str]]]:
    keyring = app.state.container.keyring
    async with app.state.container.sessions() as session:
        rows = list(await session.scalars(select(Connection).order_by(Connection.id)))
        return [
            (keyring.kid_of(row.secret_ciphertext), credentials.open_secret(keyring, row))
            for row in rows
        ]


def test_reencrypt_moves_every_secret_to_the_new_key(
    db_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = with_app(db_env, database_url, _seed)
    old_keys = os.environ["CORRAL_ENCRYPTION_KEYS"]
    monkeypatch.setenv("CORRAL_ENCRYPTION_KEYS", f"{NEW_KEY},{old_keys}")

    report = json.loads(cli("admin reencrypt --json").stdout)
    assert report[0] == {
        "column": "connections.secret_ciphertext",
        "examined": 3,
        "reencrypted": 3,
        "already_current": 0,
        "changed_meanwhile": 0,
        "failed": 0,
        "failed_ids": [],
    }
    columns = [entry["column"] for entry in report]
    assert "model_providers.key_ciphertext" in columns
    assert "webhook_endpoints.secret_ciphertext" in columns
    assert all(entry["examined"] == 0 for entry in report[1:]), "only connections were stored"
    again = json.loads(cli("admin reencrypt --json").stdout)
    assert (again[0]["reencrypted"], again[0]["already_current"]) == (0, 3)

    # Only the new key is needed now.
    stored = asyncio.run(_read_with_only(NEW_KEY, db_env, database_url))
    assert len(ids) == 3
    assert stored == [("k2", {"token": f"token-{n}"}) for n in range(3)]


def test_a_secret_no_key_opens_is_reported(
    db_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = with_app(db_env, database_url, _seed)
    with_app(db_env, database_url, lambda app: _corrupt(app, ids[1]))
    old_keys = os.environ["CORRAL_ENCRYPTION_KEYS"]
    monkeypatch.setenv("CORRAL_ENCRYPTION_KEYS", f"{NEW_KEY},{old_keys}")
    result = cli("admin reencrypt", code=1)
    assert ids[1] in result.stderr
    assert "connections.secret_ciphertext" in result.stdout


async def _corrupt(app: FastAPI, connection_id: str) -> None:
    async with app.state.container.sessions() as session, session.begin():
        row = await session.get(Connection, connection_id)
        assert row is not None
        # A valid ciphertext of another row: the associated data no longer matches.
        other = await session.scalar(select(Connection).where(Connection.id != connection_id))
        assert other is not None
        await session.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(secret_ciphertext=other.secret_ciphertext)
        )


async def _read_with_only(
    key: str, data_dir: Path, database_url: str
) -> list[tuple[str, dict[str, str]]]:
    app = create_app(make_settings(data_dir, database_url, security={"encryption_keys": key}))
    async with app.router.lifespan_context(app):
        return await _key_ids_and_secrets(app)
