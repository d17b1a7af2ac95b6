"""Immutable snapshots of a policy, one per change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from corral.governance.models import PolicyRecord, PolicyVersion
from corral.identity.access import AppScope

# The fields a snapshot holds, in the order the API shows them.
FIELDS = (
    "name",
    "description",
    "expression",
    "action",
    "action_config",
    "priority",
    "applies_to",
    "enabled",
    "shadow",
)


def snapshot(record: PolicyRecord) -> dict[str, Any]:
    """Every field of the policy's definition, as stored."""
    return {field: getattr(record, field) for field in FIELDS}


def record_version(
    session: AsyncSession,
    scope: AppScope,
    record: PolicyRecord,
    change: str,
    *,
    restored_from: int | None = None,
) -> PolicyVersion:
    """Add the version row for the policy's current state (`record.version`)."""
    actor = scope.caller.actor
    version = PolicyVersion(
        org_id=scope.org_id,
        application_id=scope.application_id,
        policy_id=record.id,
        version=record.version,
        change=change,
        restored_from=restored_from,
        snapshot=snapshot(record),
        author_type=actor.kind,
        author_id=actor.id,
    )
    session.add(version)
    return version
