"""How often each policy on a page took part in a recorded decision: one grouped query.

"Took part" is what the decisions page's policy filter shows: decided, matched without
deciding (log, alert, an admitted throttle), matched in shadow, or failed to evaluate. The
window is bounded on the record id, which is time-ordered (UUIDv7), so the count is a range
scan of the evidence index `(application_id, policy_id, record_id)` alone, without reading a
decision row. The id is the time the evidence was recorded; evidence from an SDK's spans
carries the call's time in `created_at`, usually seconds earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.ids import earliest_id
from corral.governance.models import DecisionPolicy
from corral.identity.access import AppScope

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Matches:
    day: int = 0
    week: int = 0


async def match_counts(
    session: AsyncSession, scope: AppScope, policy_ids: Sequence[str], now: datetime
) -> dict[str, Matches]:
    """Decisions each policy took part in during the last 24 hours and the last 7 days."""
    scope.require("policies:read")
    if not policy_ids:
        return {}
    record = DecisionPolicy.record_id
    day_floor = earliest_id("dec", now - DAY)
    # A policy both decided and matched one call: a record counts once.
    rows = await session.execute(
        select(
            DecisionPolicy.policy_id,
            func.count(func.distinct(record)),
            func.count(func.distinct(case((record >= day_floor, record)))),
        )
        .where(
            DecisionPolicy.application_id == scope.application_id,
            DecisionPolicy.policy_id.in_(list(policy_ids)),
            record >= earliest_id("dec", now - WEEK),
        )
        .group_by(DecisionPolicy.policy_id)
    )
    return {policy_id: Matches(day=day, week=week) for policy_id, week, day in rows}
