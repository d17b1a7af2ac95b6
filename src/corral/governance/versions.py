"""The history of a policy: list and read versions, compare two, restore one.

Versions outlive their policy, so the history of a deleted policy can still be read and a
restore of one of its versions brings it back under the same id.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.errors import NotFound
from corral.core.ids import is_well_formed
from corral.core.pagination import paginate
from corral.governance import policies
from corral.governance.access import require_writer
from corral.governance.governance_settings import bump_revision
from corral.governance.history import FIELDS
from corral.governance.models import PolicyRecord, PolicyVersion
from corral.governance.schemas import FieldChange, PolicyDiff, PolicyFields
from corral.governance.validation import check
from corral.identity.access import AppScope


def _version_not_found() -> NotFound:
    return NotFound("policy version", code="policy_version_not_found")


async def _latest(session: AsyncSession, scope: AppScope, policy_id: str) -> int | None:
    """The newest version number of a policy of this application, deleted or not."""
    if not is_well_formed(policy_id, "pol"):
        return None
    latest: int | None = await session.scalar(
        select(func.max(PolicyVersion.version)).where(
            PolicyVersion.application_id == scope.application_id,
            PolicyVersion.policy_id == policy_id,
        )
    )
    return latest


async def list_page(
    session: AsyncSession, scope: AppScope, policy_id: str, *, cursor: str | None, limit: int
) -> tuple[Sequence[PolicyVersion], str | None]:
    """The policy's versions, newest first."""
    scope.require("policies:read")
    if await _latest(session, scope, policy_id) is None:
        raise policies.policy_not_found()
    query = select(PolicyVersion).where(
        PolicyVersion.application_id == scope.application_id,
        PolicyVersion.policy_id == policy_id,
    )
    return await paginate(session, query, PolicyVersion.id, cursor=cursor, limit=limit)


async def get(session: AsyncSession, scope: AppScope, policy_id: str, number: int) -> PolicyVersion:
    scope.require("policies:read")
    if not is_well_formed(policy_id, "pol"):
        raise policies.policy_not_found()
    version = await session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.application_id == scope.application_id,
            PolicyVersion.policy_id == policy_id,
            PolicyVersion.version == number,
        )
    )
    if version is None:
        if await _latest(session, scope, policy_id) is None:
            raise policies.policy_not_found()
        raise _version_not_found()
    return version


def _text_diff(before: str, after: str, from_label: str, to_label: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), from_label, to_label, lineterm=""
    )
    return "".join(f"{line}\n" for line in lines)


async def diff(
    session: AsyncSession,
    scope: AppScope,
    policy_id: str,
    *,
    from_version: int | None,
    to_version: int | None,
) -> PolicyDiff:
    """What changed between two versions (by default the latest and the one before it)."""
    scope.require("policies:read")
    latest = await _latest(session, scope, policy_id)
    if latest is None:
        raise policies.policy_not_found()
    to_number = latest if to_version is None else to_version
    from_number = max(1, to_number - 1) if from_version is None else from_version
    before = (await get(session, scope, policy_id, from_number)).snapshot
    after = (await get(session, scope, policy_id, to_number)).snapshot
    changes = [
        FieldChange(field=field, before=before.get(field), after=after.get(field))
        for field in FIELDS
        if before.get(field) != after.get(field)
    ]
    return PolicyDiff(
        policy_id=policy_id,
        from_version=from_number,
        to_version=to_number,
        changes=changes,
        expression_diff=_text_diff(
            str(before.get("expression", "")),
            str(after.get("expression", "")),
            f"v{from_number}",
            f"v{to_number}",
        ),
    )


async def restore(
    session: AsyncSession,
    scope: AppScope,
    policy_id: str,
    number: int,
    *,
    expected_version: int | None,
) -> PolicyRecord:
    """Make version `number` current again, as a new version; recreates a deleted policy."""
    require_writer(scope)
    source = await get(session, scope, policy_id, number)
    fields: dict[str, Any] = {field: source.snapshot[field] for field in FIELDS}
    record = await policies.find(session, scope, policy_id, for_update=True)
    if record is None:
        latest = await _latest(session, scope, policy_id) or 0
        definition = PolicyFields.model_validate(fields)
        check(definition)
        record = await policies.insert(
            session,
            scope,
            definition,
            change="restore",
            policy_id=policy_id,
            version=latest + 1,
            restored_from=number,
        )
    else:
        policies.check_version(record, expected_version)
        await policies.apply(session, scope, record, fields, change="restore", restored_from=number)
    await bump_revision(session, scope)
    policies.audit_policy(
        session,
        scope,
        "policy.restored",
        record.id,
        {"restored_from": number, "version": record.version},
    )
    return record
