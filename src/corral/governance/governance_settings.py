"""Per-application governance settings: the default posture and the bundle revision counter."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.governance.access import require_writer
from corral.governance.models import GovernanceSettings
from corral.identity.access import AppScope

DEFAULT_POSTURE = "allow"


async def bump_revision(
    session: AsyncSession, scope: AppScope, *, default_posture: str | None = None
) -> None:
    """Mark the application's policies as changed, in the caller's transaction.

    Every replica compares this counter with the one its compiled policy set was built from.
    On PostgreSQL the row lock also orders concurrent changes of one application.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    table = cast(Table, GovernanceSettings.__table__)
    stmt = insert(table).values(
        application_id=scope.application_id,
        org_id=scope.org_id,
        default_posture=default_posture or DEFAULT_POSTURE,
        revision=1,
        changed_at=now,
    )
    changes: dict[str, Any] = {"revision": table.c.revision + 1, "changed_at": now}
    if default_posture is not None:
        changes["default_posture"] = default_posture
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["application_id"], set_=changes)
    )


async def get_posture(session: AsyncSession, scope: AppScope) -> str:
    scope.require("policies:read")
    posture = await session.scalar(
        select(GovernanceSettings.default_posture).where(
            GovernanceSettings.application_id == scope.application_id
        )
    )
    return posture or DEFAULT_POSTURE


async def set_posture(session: AsyncSession, scope: AppScope, default_posture: str) -> str:
    """Change what happens to calls no policy decides; audited with the previous value."""
    require_writer(scope)
    before = await session.scalar(
        select(GovernanceSettings.default_posture).where(
            GovernanceSettings.application_id == scope.application_id
        )
    )
    await bump_revision(session, scope, default_posture=default_posture)
    audit.record_in_application(
        session,
        scope,
        "policy_settings.updated",
        target_type="application",
        target_id=scope.application_id,
        details={
            "default_posture": {"before": before or DEFAULT_POSTURE, "after": default_posture}
        },
    )
    return default_posture
