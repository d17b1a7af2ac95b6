"""How often each policy on a page took part in a recorded decision: one grouped query.

The evidence index `(application_id, policy_id, record_id)` finds a policy's decisions, the
decision's primary key its time; the page's policies are counted together, never one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.governance.models import DecisionPolicy, DecisionRecord
from corral.identity.access import AppScope

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# "Matches": the decisions a policy decided, matched without deciding, or matched in shadow;
# a failed evaluation is not a match.
MATCH_ROLES = ("decided", "matched", "shadow")


@dataclass(frozen=True, slots=True)
class Matches:
    day: int = 0
    week: int = 0


async def match_counts(
    session: AsyncSession, scope: AppScope, policy_ids: Sequence[str], now: datetime
) -> dict[str, Matches]:
    """Decisions each policy matched in the last 24 hours and the last 7 days."""
    scope.require("policies:read")
    if not policy_ids:
        return {}
    day_ago = now - DAY
    rows = await session.execute(
        select(
            DecisionPolicy.policy_id,
            func.count(func.distinct(DecisionPolicy.record_id)),
            func.count(
                func.distinct(
                    case((DecisionRecord.created_at >= day_ago, DecisionPolicy.record_id))
                )
            ),
        )
        .join(DecisionRecord, DecisionRecord.id == DecisionPolicy.record_id)
        .where(
            DecisionPolicy.application_id == scope.application_id,
            DecisionPolicy.policy_id.in_(list(policy_ids)),
            DecisionPolicy.role.in_(MATCH_ROLES),
            DecisionRecord.created_at >= now - WEEK,
        )
        .group_by(DecisionPolicy.policy_id)
    )
    return {policy_id: Matches(day=day, week=week) for policy_id, week, day in rows}
