"""Templates and the conflict report over an application's stored policies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.governance import policies
from corral.governance.access import require_writer
from corral.governance.conflicts import PolicyConflict, analyze
from corral.governance.governance_settings import bump_revision
from corral.governance.models import PolicyRecord
from corral.governance.policy_sets import stored_policy
from corral.governance.schemas import PolicyFields
from corral.governance.templates import TEMPLATES, PolicyTemplate, get_template
from corral.governance.validation import check
from corral.identity.access import AppScope


def list_templates(
    scope: AppScope, *, owasp: str | None, category: str | None
) -> list[PolicyTemplate]:
    scope.require("policies:read")
    return [
        template
        for template in TEMPLATES
        if (owasp is None or owasp in template.owasp)
        and (category is None or template.category == category)
    ]


def template_fields(template: PolicyTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "description": template.description,
        "expression": template.expression,
        "action": template.action.value,
        "action_config": dict(template.action_config),
        "priority": template.priority,
        "applies_to": list(template.applies_to),
    }


async def create_from_template(
    session: AsyncSession, scope: AppScope, template_id: str, overrides: dict[str, Any]
) -> PolicyRecord:
    """A new policy from a catalog template, with the caller's changes."""
    require_writer(scope)
    template = get_template(template_id)
    fields = PolicyFields.model_validate(template_fields(template) | overrides)
    check(fields)
    record = await policies.insert(session, scope, fields, change="create")
    await bump_revision(session, scope)
    policies.audit_policy(
        session,
        scope,
        "policy.created",
        record.id,
        {"name": record.name, "version": 1, "template_id": template.id},
    )
    return record


@dataclass(frozen=True, slots=True)
class Report:
    analyzed: int
    conflicts: list[PolicyConflict]
    names: dict[str, str]


async def conflict_report(session: AsyncSession, scope: AppScope) -> Report:
    """Conflicts and shadowing among the application's enabled policies."""
    scope.require("policies:read")
    records: Sequence[PolicyRecord] = (
        await session.scalars(
            select(PolicyRecord).where(
                PolicyRecord.application_id == scope.application_id, PolicyRecord.enabled
            )
        )
    ).all()
    stored = [stored_policy(record) for record in records]
    found = await anyio.to_thread.run_sync(analyze, stored)
    return Report(len(stored), found, {record.id: record.name for record in records})
