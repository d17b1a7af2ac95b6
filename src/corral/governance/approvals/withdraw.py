"""The requester gives up waiting: its pending request ends as `expired` at once.

Without this, an agent that stopped waiting (its own timeout) left a card people could still
approve, approving a call that would never run. Only the identity that asked may withdraw
(the same API key, run or user), and the row is locked as a decision locks it, so a withdrawal
and an approval resolve the request once: whichever comes first wins, and the answer tells the
requester which (an approval that won means the call may still run).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import as_utc, utcnow
from corral.core.errors import PermissionDenied
from corral.governance.approvals.models import EXPIRED, PENDING, Approval
from corral.governance.approvals.service import (
    APPROVAL,
    approval_not_found,
    event_data,
    requester_of,
    visible,
)
from corral.identity.access import AppScope
from corral.webhooks import outbox


@dataclass(frozen=True, slots=True)
class Withdrawn:
    approval: Approval
    # Whether this call ended the request (waiters must be woken after the commit).
    resolved: bool


async def withdraw(session: AsyncSession, scope: AppScope, approval_id: str) -> Withdrawn:
    approval: Approval | None = await session.scalar(
        visible(scope).where(Approval.id == approval_id).with_for_update()
    )
    if approval is None:
        raise approval_not_found()
    requester_type, requester_id = requester_of(scope)
    if (approval.requested_by_type, approval.requested_by_id) != (requester_type, requester_id):
        raise PermissionDenied(
            "only the identity that asked for this approval may withdraw it",
            code="not_requester",
        )
    if approval.status != PENDING:
        # Decided or expired already: the answer says how it ended.
        return Withdrawn(approval, resolved=False)
    now = utcnow()
    approval.status = EXPIRED
    approval.resolved_at = now
    # Shown as expired from now on, also by readers that compute the status from the time.
    approval.expires_at = min(as_utc(approval.expires_at), now)
    approval.version += 1
    data = {**event_data(approval, now), "withdrawn": True}
    audit.record_in_application(
        session,
        scope,
        "approval.withdrawn",
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
    return Withdrawn(approval, resolved=True)
