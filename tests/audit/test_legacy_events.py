"""Events recorded before the chain existed: the migration numbers them, verification counts
them as an unsigned prefix, and the signed chain follows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from corral.api.app import create_app
from corral.core.migrations import alembic_config, upgrade_to_head
from tests.audit.test_chain import APP, ORG, append, container_of, events, verify
from tests.conftest import make_settings
from tests.test_migrations import empty_engine

__all__ = ["empty_engine"]


def _upgrade_to_providers(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "0008_providers")


async def test_earlier_events_become_an_unsigned_prefix(
    empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    async with empty_engine.begin() as conn:
        await conn.run_sync(_upgrade_to_providers)
        for n in range(3):
            await conn.execute(
                text(
                    "INSERT INTO audit_events (id, org_id, application_id, actor_type, action, "
                    "target_type, details, created_at) VALUES (:id, :org, :app, 'user', "
                    "'policy.created', 'policy', '{}', :at)"
                ),
                {
                    "id": f"aud_legacy{n:016d}",
                    "org": ORG,
                    "app": APP,
                    "at": f"2026-01-01 00:00:0{n}.000000",
                },
            )
    await upgrade_to_head(empty_engine)
    url = empty_engine.url.render_as_string(hide_password=False)
    app = create_app(make_settings(tmp_path, url))
    async with app.router.lifespan_context(app):
        container = container_of(app)
        await append(container, 2)
        rows = await events(container)
        assert [(e.seq, e.key_id) for e in rows] == [
            (1, "legacy"),
            (2, "legacy"),
            (3, "legacy"),
            (4, container.audit_keys.active_id),
            (5, container.audit_keys.active_id),
        ]
        report = await verify(container)
        assert (report.ok, report.legacy_events, report.events_checked) == (True, 3, 5)
