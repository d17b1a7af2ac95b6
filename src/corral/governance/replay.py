"""Simulation over stored spans: what a draft or a set of policies would have done.

The calls are the application's own spans in a time window, newest first, at most `limit`
(one indexed range scan on `(application_id, start_time)`), replayed oldest first at their
recorded times by `corral.governance.simulate`. Spans are stored after redaction, so a policy
that looks for a secret sees its mask; the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import utcnow
from corral.governance import policies
from corral.governance.analysis_schemas import SimulationRequest
from corral.governance.governance_settings import get_posture
from corral.governance.models import PolicyRecord
from corral.governance.policy_sets import stored_policy
from corral.governance.simulate import SimulatedCall, SimulationResult, simulate
from corral.governance.validation import DRAFT_ID, check, engine_policy
from corral.identity.access import AppScope
from corral.traces.models import Span
from corral_sdk.policy import Policy

DEFAULT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Replay:
    since: datetime
    until: datetime
    result: SimulationResult


async def _named(session: AsyncSession, scope: AppScope, ids: list[str]) -> list[Policy]:
    """Stored policies by id, enabled or not; every id must be the application's."""
    wanted = list(dict.fromkeys(ids))
    rows = (
        await session.scalars(
            select(PolicyRecord).where(
                PolicyRecord.application_id == scope.application_id, PolicyRecord.id.in_(wanted)
            )
        )
    ).all()
    found = {row.id: row for row in rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise policies.policy_not_found(missing)
    # Simulated as enabled: the question is what they would do.
    return [stored_policy(found[i], enabled=True) for i in wanted]


async def _enabled(session: AsyncSession, scope: AppScope) -> list[Policy]:
    rows = await session.scalars(
        select(PolicyRecord).where(
            PolicyRecord.application_id == scope.application_id, PolicyRecord.enabled
        )
    )
    return [stored_policy(row) for row in rows]


async def _policies(
    session: AsyncSession, scope: AppScope, request: SimulationRequest
) -> list[Policy]:
    if request.policy is None:
        assert request.policy_ids is not None
        return await _named(session, scope, request.policy_ids)
    check(request.policy)
    draft = engine_policy(request.policy.model_copy(update={"enabled": True}), DRAFT_ID)
    if not request.with_current:
        return [draft]
    current = await _enabled(session, scope)
    return [*(p for p in current if p.name != draft.name), draft]


async def load_calls(
    session: AsyncSession,
    application_id: str,
    *,
    since: datetime,
    until: datetime,
    categories: list[str],
    agent: str | None,
    limit: int,
) -> list[SimulatedCall]:
    """The application's spans in [since, until), newest first, at most `limit`."""
    query = (
        select(
            Span.trace_id,
            Span.span_id,
            Span.call_name,
            Span.attributes,
            Span.start_time,
            Span.agent_name,
            Span.end_user_id,
        )
        .where(
            Span.application_id == application_id,
            Span.start_time >= since,
            Span.start_time < until,
            Span.category.in_(categories),
        )
        .order_by(Span.start_time.desc(), Span.id.desc())
        .limit(limit)
    )
    if agent is not None:
        query = query.where(Span.agent_name == agent)
    return [
        SimulatedCall(
            span_id=row.span_id,
            trace_id=row.trace_id,
            call_name=row.call_name,
            attributes=row.attributes,
            start_time=row.start_time,
            agent=row.agent_name,
            end_user=row.end_user_id,
        )
        for row in await session.execute(query)
    ]


async def run(session: AsyncSession, scope: AppScope, request: SimulationRequest) -> Replay:
    """Replay the window's spans through the requested policies."""
    scope.require("policies:read")
    scope.require("traces:read")
    until = request.until or utcnow()
    since = request.since or until - DEFAULT_WINDOW
    chosen = await _policies(session, scope, request)
    posture = await get_posture(session, scope)
    # One more than the limit: simulate() reports the window as truncated when it gets it.
    calls = await load_calls(
        session,
        scope.application_id,
        since=since,
        until=until,
        categories=list(request.categories),
        agent=request.agent,
        limit=request.limit + 1,
    )

    def replay() -> SimulationResult:
        return simulate(
            chosen,
            calls,
            default_posture=posture,
            sample_limit=request.sample_limit,
            max_calls=request.limit,
        )

    return Replay(since, until, await anyio.to_thread.run_sync(replay))
