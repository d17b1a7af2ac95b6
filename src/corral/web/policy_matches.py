"""How often each policy on a page took part in a recorded decision: one query, bounded work.

"Took part" is what the decisions page's policy filter shows: decided, matched without
deciding (log, alert, an admitted throttle), matched in shadow, or failed to evaluate. The
window is bounded on the record id, which is time-ordered (UUIDv7), so each count is a range
scan of the evidence index `(application_id, policy_id, record_id)` alone, without reading a
decision row; and each stops after `MATCH_CAP` records (shown as "1,000+"), so a busy policy
costs no more than a quiet one. The id is the time the evidence was recorded; evidence from an
SDK's spans carries the call's time in `created_at`, usually seconds earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.ids import earliest_id
from corral.governance.models import DecisionPolicy, PolicyRecord
from corral.identity.access import AppScope

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MATCH_CAP = 1000


@dataclass(frozen=True, slots=True)
class Count:
    value: int

    def __str__(self) -> str:
        return f"{MATCH_CAP:,}+" if self.value > MATCH_CAP else f"{self.value:,}"


@dataclass(frozen=True, slots=True)
class Matches:
    day: Count
    week: Count


def _capped_count(scope: AppScope, since: datetime) -> ScalarSelect[int]:
    # Distinct: a policy that decided a call is also among its matches; one record counts once.
    records = (
        select(DecisionPolicy.record_id)
        .where(
            DecisionPolicy.application_id == scope.application_id,
            DecisionPolicy.policy_id == PolicyRecord.id,
            DecisionPolicy.record_id >= earliest_id("dec", since),
        )
        .distinct()
        .limit(MATCH_CAP + 1)
        .correlate(PolicyRecord)
        .subquery()
    )
    return select(func.count()).select_from(records).scalar_subquery()


async def match_counts(
    session: AsyncSession, scope: AppScope, policy_ids: Sequence[str], now: datetime
) -> dict[str, Matches]:
    """Decisions each policy took part in during the last 24 hours and the last 7 days."""
    scope.require("policies:read")
    if not policy_ids:
        return {}
    rows = await session.execute(
        select(
            PolicyRecord.id,
            _capped_count(scope, now - DAY),
            _capped_count(scope, now - WEEK),
        ).where(
            PolicyRecord.application_id == scope.application_id,
            PolicyRecord.id.in_(list(policy_ids)),
        )
    )
    return {policy_id: Matches(Count(day), Count(week)) for policy_id, day, week in rows}
