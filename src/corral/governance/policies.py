"""Policies of an application: create, read, change, delete, and the same in batches.

Every change validates the definition with the engine, stores a version, bumps the
application's bundle revision and writes an audit event, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, NotFound, PreconditionFailed
from corral.core.ids import is_well_formed
from corral.core.pagination import paginate
from corral.governance.access import require_writer
from corral.governance.governance_settings import bump_revision
from corral.governance.history import FIELDS, record_version, snapshot
from corral.governance.models import PolicyRecord
from corral.governance.schemas import PolicyFields
from corral.governance.validation import check
from corral.identity.access import AppScope

# A change to one of these can make a stored policy fail to compile, so it is checked; flipping
# `enabled` or `shadow`, or the name, never is, so a broken policy can always be switched off.
_DEFINITION = frozenset({"expression", "action", "action_config", "applies_to"})


def policy_not_found(missing: Sequence[str] = ()) -> NotFound:
    error = NotFound("policy", code="policy_not_found")
    if missing:
        error.extra["missing"] = list(missing)
    return error


def _query(scope: AppScope, policy_id: str) -> Select[PolicyRecord]:
    return select(PolicyRecord).where(
        PolicyRecord.id == policy_id, PolicyRecord.application_id == scope.application_id
    )


async def find(
    session: AsyncSession, scope: AppScope, policy_id: str, *, for_update: bool = False
) -> PolicyRecord | None:
    """The application's policy, or None; locked for the transaction when `for_update`."""
    if not is_well_formed(policy_id, "pol"):
        return None
    query = _query(scope, policy_id)
    if for_update:
        query = query.with_for_update()
    record: PolicyRecord | None = await session.scalar(query)
    return record


async def load(
    session: AsyncSession, scope: AppScope, policy_id: str, *, for_update: bool = False
) -> PolicyRecord:
    record = await find(session, scope, policy_id, for_update=for_update)
    if record is None:
        raise policy_not_found()
    return record


def check_version(record: PolicyRecord, expected: int | None) -> None:
    """Optimistic concurrency: refuse a change based on a version that is no longer current."""
    if expected is not None and expected != record.version:
        raise PreconditionFailed(
            f"the policy is at version {record.version}, not {expected}; reload and retry",
            code="version_mismatch",
            extra={"current_version": record.version},
        )


async def flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "a policy with this name exists in the application", code="policy_name_taken"
        ) from exc


def audit_policy(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    policy_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="policy",
        target_id=policy_id,
        details=details,
    )


async def insert(
    session: AsyncSession,
    scope: AppScope,
    fields: PolicyFields,
    *,
    change: str,
    policy_id: str | None = None,
    version: int = 1,
    restored_from: int | None = None,
) -> PolicyRecord:
    """Store a checked definition as a new policy with its first (or next) version."""
    record = PolicyRecord(
        org_id=scope.org_id,
        application_id=scope.application_id,
        version=version,
        **fields.model_dump(),
    )
    if policy_id is not None:
        record.id = policy_id
    session.add(record)
    await flush_unique(session)
    record_version(session, scope, record, change, restored_from=restored_from)
    return record


async def apply(
    session: AsyncSession,
    scope: AppScope,
    record: PolicyRecord,
    changes: dict[str, Any],
    *,
    change: str,
    restored_from: int | None = None,
) -> list[str]:
    """Apply field changes as one new version; the names of the fields that changed."""
    changed = [f for f in FIELDS if f in changes and changes[f] != getattr(record, f)]
    if not changed and restored_from is None:
        return []
    if _DEFINITION.intersection(changed) or restored_from is not None:
        check(PolicyFields.model_validate({**snapshot(record), **changes}))
    for field in changed:
        setattr(record, field, changes[field])
    record.version += 1
    record.updated_at = utcnow()
    await flush_unique(session)
    record_version(session, scope, record, change, restored_from=restored_from)
    return changed


async def create(session: AsyncSession, scope: AppScope, fields: PolicyFields) -> PolicyRecord:
    require_writer(scope)
    check(fields)
    record = await insert(session, scope, fields, change="create")
    await bump_revision(session, scope)
    audit_policy(session, scope, "policy.created", record.id, {"name": record.name, "version": 1})
    return record


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    enabled: bool | None,
    action: str | None,
    shadow: bool | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[PolicyRecord], str | None]:
    """The application's policies, newest first, filtered."""
    scope.require("policies:read")
    query = select(PolicyRecord).where(PolicyRecord.application_id == scope.application_id)
    if enabled is not None:
        query = query.where(PolicyRecord.enabled == enabled)
    if action is not None:
        query = query.where(PolicyRecord.action == action)
    if shadow is not None:
        query = query.where(PolicyRecord.shadow == shadow)
    if q:
        query = query.where(PolicyRecord.name.icontains(q, autoescape=True))
    return await paginate(session, query, PolicyRecord.id, cursor=cursor, limit=limit)


async def get(session: AsyncSession, scope: AppScope, policy_id: str) -> PolicyRecord:
    scope.require("policies:read")
    return await load(session, scope, policy_id)


async def update(
    session: AsyncSession,
    scope: AppScope,
    policy_id: str,
    changes: dict[str, Any],
    *,
    expected_version: int | None,
) -> PolicyRecord:
    """Change some fields; a no-op change stores no version."""
    require_writer(scope)
    record = await load(session, scope, policy_id, for_update=True)
    check_version(record, expected_version)
    changed = await apply(session, scope, record, changes, change="update")
    if changed:
        await bump_revision(session, scope)
        audit_policy(
            session,
            scope,
            "policy.updated",
            record.id,
            {"version": record.version, "fields": changed},
        )
    return record


async def remove(session: AsyncSession, scope: AppScope, record: PolicyRecord) -> None:
    # The history keeps a last version saying the policy was deleted, and what it was.
    record.version += 1
    record_version(session, scope, record, "delete")
    await session.delete(record)
    audit_policy(session, scope, "policy.deleted", record.id, {"name": record.name})


async def delete(
    session: AsyncSession, scope: AppScope, policy_id: str, *, expected_version: int | None
) -> None:
    require_writer(scope)
    record = await load(session, scope, policy_id, for_update=True)
    check_version(record, expected_version)
    await remove(session, scope, record)
    await bump_revision(session, scope)


async def batch(
    session: AsyncSession, scope: AppScope, operation: str, ids: Sequence[str]
) -> list[str]:
    """Enable, disable or delete policies, all or none; any id not found refuses the batch."""
    require_writer(scope)
    wanted = list(dict.fromkeys(ids))
    well_formed = [i for i in wanted if is_well_formed(i, "pol")]
    rows = (
        await session.scalars(
            select(PolicyRecord)
            .where(
                PolicyRecord.application_id == scope.application_id,
                PolicyRecord.id.in_(well_formed),
            )
            .order_by(PolicyRecord.id)
            .with_for_update()
        )
    ).all()
    by_id = {record.id: record for record in rows}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise policy_not_found(missing)
    changed: list[str] = []
    for policy_id in wanted:
        record = by_id[policy_id]
        if operation == "delete":
            await remove(session, scope, record)
            changed.append(policy_id)
            continue
        enabled = operation == "enable"
        if await apply(session, scope, record, {"enabled": enabled}, change="update"):
            audit_policy(
                session, scope, f"policy.{operation}d", record.id, {"version": record.version}
            )
            changed.append(policy_id)
    if changed:
        await bump_revision(session, scope)
    return changed
