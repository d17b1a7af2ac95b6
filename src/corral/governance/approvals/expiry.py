"""The `approval_expiry` loop's pass: pending requests past `expires_at` become `expired`.

Decisions already refuse an expired request on their own; this pass records the expiry, so
listings and webhooks (`approval.resolved` with status `expired`) follow within a tick. A
request of a hosted run that has ended (cancelled, timed out) expires too: nobody waits for it
any more, and approving it would approve nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit import service as audit
from corral.core.db import transaction
from corral.core.request_context import Actor
from corral.governance.approvals.models import EXPIRED, PENDING, Approval
from corral.governance.approvals.service import APPROVAL, event_data
from corral.runs.models import TERMINAL_STATUSES, Run
from corral.webhooks import outbox

BATCH = 200
EXPIRY_ACTOR = Actor("system", "approval_expiry", None)


async def expire_due(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime, limit: int = BATCH
) -> list[str]:
    """Expire up to `limit` due requests in one transaction; their ids."""
    async with transaction(sessions) as session:
        due = (
            await session.scalars(
                select(Approval)
                .where(
                    Approval.status == PENDING,
                    or_(
                        Approval.expires_at <= now,
                        Approval.run_id.in_(
                            select(Run.id).where(Run.status.in_(TERMINAL_STATUSES))
                        ),
                    ),
                )
                .order_by(Approval.expires_at)
                .limit(limit)
                # Another replica's pass (or a decision) holding a row: leave it to them.
                .with_for_update(skip_locked=True)
            )
        ).all()
        for approval in due:
            approval.status = EXPIRED
            approval.resolved_at = now
            data = event_data(approval, now)
            audit.record(
                session,
                EXPIRY_ACTOR,
                "approval.resolved",
                target_type=APPROVAL,
                target_id=approval.id,
                org_id=approval.org_id,
                application_id=approval.application_id,
                details=data,
            )
            await outbox.emit(
                session,
                org_id=approval.org_id,
                application_id=approval.application_id,
                event_type="approval.resolved",
                data=data,
            )
        return [approval.id for approval in due]
