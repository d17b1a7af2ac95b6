"""A person's answer to an approval request, and the request's resolution.

Only people decide: the caller must be a signed-in user whose organization role grants
`approvals:decide` and reaches the request's `approver_role`. API keys, runs and end-users never
decide, and the identity that asked may not answer its own request. A request is approved when
`approvers_required` distinct people approved it; one deny vetoes it at once. A decision made
after `expires_at` is refused even if the expiry loop has not recorded the expiry yet.

Concurrent decisions resolve a request exactly once: the request's row is locked
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite's write transactions are serialized), so the
second decider sees what the first did, and a person's decision is unique per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import as_utc, utcnow
from corral.core.errors import Conflict, PermissionDenied
from corral.governance.approvals.models import (
    APPROVE,
    APPROVED,
    DENIED,
    DENY,
    EXPIRED,
    PENDING,
    Approval,
    ApprovalDecision,
)
from corral.governance.approvals.schemas import Verdict
from corral.governance.approvals.service import (
    APPROVAL,
    approval_not_found,
    event_data,
)
from corral.identity.access import AppScope
from corral.identity.permissions import Role, role_at_least
from corral.webhooks import outbox


@dataclass(frozen=True, slots=True)
class Decided:
    approval: Approval
    # Whether this decision resolved the request (waiters must be woken after the commit).
    resolved: bool


def _check_decider(scope: AppScope) -> str:
    caller = scope.caller
    if caller.kind != "user" or caller.user is None or scope.end_user_id is not None:
        raise PermissionDenied(
            "only a signed-in person may approve or deny; API keys, runs and end-users cannot",
            code="human_approver_required",
        )
    scope.require("approvals:decide")
    return caller.user.id


async def _locked(session: AsyncSession, scope: AppScope, approval_id: str) -> Approval:
    approval: Approval | None = await session.scalar(
        select(Approval)
        .where(Approval.id == approval_id, Approval.application_id == scope.application_id)
        .with_for_update()
    )
    if approval is None:
        raise approval_not_found()
    return approval


async def decide(
    session: AsyncSession,
    scope: AppScope,
    approval_id: str,
    verdict: Verdict,
    comment: str | None,
) -> Decided:
    user_id = _check_decider(scope)
    approval = await _locked(session, scope, approval_id)
    now = utcnow()
    earlier: ApprovalDecision | None = await session.scalar(
        select(ApprovalDecision).where(
            ApprovalDecision.approval_id == approval.id, ApprovalDecision.user_id == user_id
        )
    )
    if earlier is not None:
        if earlier.verdict == verdict:
            # The same answer twice counts once: a retried request is answered as the first.
            return Decided(approval, resolved=False)
        raise Conflict(
            f"you already answered {earlier.verdict} to this request",
            code="already_decided",
        )
    if approval.status == EXPIRED or (
        approval.status == PENDING and as_utc(approval.expires_at) <= now
    ):
        raise Conflict("this approval request has expired", code="approval_expired")
    if approval.status != PENDING:
        raise Conflict(
            f"this approval request is already {approval.status}", code="approval_resolved"
        )
    if approval.requested_by_type == "user" and approval.requested_by_id == user_id:
        raise PermissionDenied(
            "you asked for this approval: someone else must decide it",
            code="self_approval_forbidden",
        )
    if scope.role is None or not role_at_least(scope.role, Role(approval.approver_role)):
        raise PermissionDenied(
            f"deciding this request needs the {approval.approver_role} role or higher",
            code="approver_role_required",
        )
    assert scope.caller.user is not None
    session.add(
        ApprovalDecision(
            approval_id=approval.id,
            application_id=approval.application_id,
            user_id=user_id,
            user_email=scope.caller.user.email,
            verdict=verdict,
            comment=comment,
            created_at=now,
        )
    )
    approval.version += 1
    await session.flush()
    approvals = await session.scalar(
        select(func.count())
        .select_from(ApprovalDecision)
        .where(ApprovalDecision.approval_id == approval.id, ApprovalDecision.verdict == APPROVE)
    )
    details: dict[str, Any] = {"verdict": verdict, "comment": comment, "approvals": approvals}
    audit.record_in_application(
        session,
        scope,
        "approval.approved" if verdict == APPROVE else "approval.denied",
        target_type=APPROVAL,
        target_id=approval.id,
        details=details,
    )
    resolved_as = DENIED if verdict == DENY else APPROVED
    if verdict == APPROVE and (approvals or 0) < approval.approvers_required:
        return Decided(approval, resolved=False)
    approval.status = resolved_as
    approval.resolved_at = now
    data = event_data(approval, now)
    if verdict == DENY:
        data["comment"] = comment
    audit.record_in_application(
        session,
        scope,
        "approval.resolved",
        target_type=APPROVAL,
        target_id=approval.id,
        details=data,
    )
    await outbox.emit(
        session,
        org_id=approval.org_id,
        application_id=approval.application_id,
        event_type="approval.resolved",
        data=data,
    )
    return Decided(approval, resolved=True)
