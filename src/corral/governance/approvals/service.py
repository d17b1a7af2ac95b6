"""Holding a call for approval, and reading approvals.

An approval is created by a `require_approval` decision: by a hosted run's sidecar, or by an
external agent (`POST /api/approvals`), whose call the server decides again with the
application's policies, so a caller cannot invent a request no policy asked for. The request
is announced to webhooks (`approval.requested`) and audited in the transaction that creates it.

Reading: people with `approvals:read` see every request of the application (narrowed to the
end-user when a key acts as one); a caller without it sees only the requests it made itself, so
an SDK key that may ask for decisions can always follow its own request.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import as_utc, utcnow
from corral.core.errors import Conflict, NotFound, PermissionDenied
from corral.core.ids import new_id
from corral.core.pagination import paginate
from corral.governance.approvals.models import (
    APPROVE,
    EXPIRED,
    PENDING,
    Approval,
    ApprovalDecision,
)
from corral.governance.approvals.redaction import redact_arguments
from corral.governance.approvals.schemas import (
    ApprovalCreate,
    ApprovalDecisionRead,
    ApprovalRead,
    ApprovalStatus,
    Requester,
    RequesterType,
    Verdict,
)
from corral.governance.approvals.terms import ApprovalTerms
from corral.governance.decisions import Decider
from corral.identity.access import AppScope
from corral.telemetry.redact import Redactor
from corral.webhooks import outbox
from corral_sdk.call import proposed_call
from corral_sdk.policy import Action, Decision

APPROVAL = "approval"


@dataclass(frozen=True, slots=True)
class HeldCall:
    """The call an approval holds."""

    call_name: str
    tool_name: str
    arguments: Mapping[str, Any]
    agent: str | None
    end_user_id: str | None
    run_id: str | None = None
    decision_id: str | None = None


def approval_not_found() -> NotFound:
    return NotFound("approval", code="approval_not_found")


def requester_of(scope: AppScope) -> tuple[RequesterType, str | None]:
    caller = scope.caller
    if caller.kind == "run":
        return "run", caller.run_id
    if caller.kind == "user":
        return "user", caller.user_id
    return "api_key", caller.api_key.id if caller.api_key else None


def event_data(approval: Approval, now: datetime | None = None) -> dict[str, Any]:
    """What webhooks and run events say about an approval."""
    return {
        "approval_id": approval.id,
        "status": effective_status(approval, now or utcnow()),
        "tool": approval.tool_name,
        "arguments": approval.arguments,
        "message": approval.message,
        "agent": approval.agent,
        "run_id": approval.run_id,
        "end_user_id": approval.end_user_id,
        "policy_id": approval.policy_id,
        "policy_name": approval.policy_name,
        "approvers_required": approval.approvers_required,
        "expires_at": as_utc(approval.expires_at).isoformat(),
    }


async def hold(
    session: AsyncSession,
    scope: AppScope,
    call: HeldCall,
    decision: Decision,
    redactor: Redactor,
) -> Approval:
    """Create the approval a `require_approval` decision asks for, in the caller's transaction."""
    terms = ApprovalTerms.from_config(decision.action_config)
    requester_type, requester_id = requester_of(scope)
    now = utcnow()
    approval = Approval(
        id=new_id("apr"),
        org_id=scope.org_id,
        application_id=scope.application_id,
        status=PENDING,
        call_name=call.call_name[:200],
        tool_name=call.tool_name[:200],
        arguments=redact_arguments(redactor, dict(call.arguments)),
        agent=call.agent,
        end_user_id=call.end_user_id,
        run_id=call.run_id,
        requested_by_type=requester_type,
        requested_by_id=requester_id,
        policy_id=decision.policy_id,
        policy_name=decision.policy_name,
        message=decision.message,
        decision_id=call.decision_id,
        approvers_required=terms.approvers_required,
        approver_role=terms.approver_role,
        on_timeout=terms.on_timeout,
        version=0,
        expires_at=now + timedelta(seconds=terms.timeout_seconds),
        created_at=now,
    )
    session.add(approval)
    await session.flush()
    data = event_data(approval, now)
    audit.record_in_application(
        session,
        scope,
        "approval.requested",
        target_type=APPROVAL,
        target_id=approval.id,
        details=data,
    )
    await outbox.emit(
        session,
        org_id=scope.org_id,
        application_id=scope.application_id,
        event_type="approval.requested",
        data=data,
    )
    return approval


def _end_user(scope: AppScope, requested: str | None) -> str | None:
    if scope.end_user_id is None:
        return requested
    if requested is not None and requested != scope.end_user_id:
        raise PermissionDenied(
            "acting as an end-user, approvals are requested for that end-user only",
            code="impersonation_forbidden",
        )
    return scope.end_user_id


async def request_for_call(
    session: AsyncSession,
    scope: AppScope,
    decider: Decider,
    redactor: Redactor,
    body: ApprovalCreate,
) -> Approval:
    """Hold an external agent's call, once the application's policies confirm it needs it."""
    scope.require("decisions:write")
    end_user = _end_user(scope, body.end_user)
    proposed = proposed_call(
        body.name,
        args=body.arguments,
        attributes=body.attributes,
        agent=body.agent,
        end_user=end_user,
    )
    compiled = await decider.policy_sets.current(session, scope.application_id)
    decide = functools.partial(
        compiled.policy_set.decide,
        proposed.name,
        proposed.attributes,
        agent=body.agent,
        end_user=end_user,
    )
    if decider.offload_throttles and compiled.enforces_throttle(proposed.name):
        decision = await anyio.to_thread.run_sync(decide)
    else:
        decision = decide()
    if decision.action is not Action.REQUIRE_APPROVAL:
        raise Conflict(
            f"the application's policies decide this call with {decision.action.value}, "
            "not require_approval: no approval is held for it",
            code="approval_not_required",
            extra={"action": decision.action.value, "policy_id": decision.policy_id},
        )
    call = HeldCall(
        call_name=proposed.name,
        tool_name=proposed.tool_name,
        arguments=body.arguments,
        agent=body.agent,
        end_user_id=end_user,
        decision_id=body.decision_id,
    )
    return await hold(session, scope, call, decision, redactor)


def effective_status(approval: Approval, now: datetime) -> ApprovalStatus:
    """A pending request past its expiry is expired, whether or not the loop recorded it yet."""
    if approval.status == PENDING and as_utc(approval.expires_at) <= now:
        return "expired"
    return cast(ApprovalStatus, approval.status)


def still_pending(approval: Approval) -> bool:
    return effective_status(approval, utcnow()) == PENDING


def visible(scope: AppScope) -> Select[Approval]:
    query = select(Approval).where(Approval.application_id == scope.application_id)
    if scope.end_user_id is not None:
        query = query.where(Approval.end_user_id == scope.end_user_id)
    if "approvals:read" not in scope.permissions:
        scope.require("decisions:write")
        requester_type, requester_id = requester_of(scope)
        query = query.where(
            Approval.requested_by_type == requester_type,
            Approval.requested_by_id == requester_id,
        )
    return query


async def get(session: AsyncSession, scope: AppScope, approval_id: str) -> Approval:
    approval: Approval | None = await session.scalar(
        visible(scope).where(Approval.id == approval_id)
    )
    if approval is None:
        raise approval_not_found()
    return approval


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    status: ApprovalStatus | None,
    agent: str | None,
    run_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Approval], str | None]:
    query = visible(scope)
    now = utcnow()
    if status == PENDING:
        query = query.where(Approval.status == PENDING, Approval.expires_at > now)
    elif status == EXPIRED:
        query = query.where(
            or_(
                Approval.status == EXPIRED,
                and_(Approval.status == PENDING, Approval.expires_at <= now),
            )
        )
    elif status is not None:
        query = query.where(Approval.status == status)
    if agent is not None:
        query = query.where(Approval.agent == agent)
    if run_id is not None:
        query = query.where(Approval.run_id == run_id)
    return await paginate(session, query, Approval.id, cursor=cursor, limit=limit)


async def decisions_of(
    session: AsyncSession, approval_ids: Sequence[str]
) -> dict[str, list[ApprovalDecision]]:
    found: dict[str, list[ApprovalDecision]] = {approval_id: [] for approval_id in approval_ids}
    if not approval_ids:
        return found
    rows = await session.scalars(
        select(ApprovalDecision)
        .where(ApprovalDecision.approval_id.in_(approval_ids))
        .order_by(ApprovalDecision.created_at, ApprovalDecision.id)
    )
    for row in rows:
        found[row.approval_id].append(row)
    return found


def read(approval: Approval, decisions: Sequence[ApprovalDecision]) -> ApprovalRead:
    return ApprovalRead(
        id=approval.id,
        application_id=approval.application_id,
        status=effective_status(approval, utcnow()),
        call_name=approval.call_name,
        tool_name=approval.tool_name,
        arguments=approval.arguments,
        agent=approval.agent,
        end_user_id=approval.end_user_id,
        run_id=approval.run_id,
        requested_by=Requester(
            type=cast(RequesterType, approval.requested_by_type), id=approval.requested_by_id
        ),
        policy_id=approval.policy_id,
        policy_name=approval.policy_name,
        message=approval.message,
        decision_id=approval.decision_id,
        approvers_required=approval.approvers_required,
        approvals=sum(1 for d in decisions if d.verdict == APPROVE),
        approver_role=approval.approver_role,
        on_timeout="allow" if approval.on_timeout == "allow" else "deny",
        decisions=[
            ApprovalDecisionRead(
                user_id=d.user_id,
                user_email=d.user_email,
                verdict=cast(Verdict, d.verdict),
                comment=d.comment,
                created_at=d.created_at,
            )
            for d in decisions
        ],
        expires_at=approval.expires_at,
        created_at=approval.created_at,
        resolved_at=approval.resolved_at,
        version=approval.version,
    )


async def read_one(session: AsyncSession, approval: Approval) -> ApprovalRead:
    found = await decisions_of(session, [approval.id])
    return read(approval, found[approval.id])
