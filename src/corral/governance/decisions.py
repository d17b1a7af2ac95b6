"""Server-side decisions (`POST /api/decisions`) and the evidence they and the SDKs leave.

The decision runs the application's cached `PolicySet`, so it is the decision an SDK holding
the same bundle would make. Throttle buckets live in the container's store (Redis when
configured, so replicas share them).

`PolicySet.decide` is synchronous and a throttle policy calls `store.take` inside it. With the
in-process store that is a few microseconds and runs on the event loop. With Redis it is a
network round trip, so the decision moves to a worker thread, but only when a non-shadow
throttle policy covers the call (the candidates of a call name are cached by the set, so the
check is a dictionary lookup): the common decision stays on the loop, free of a thread hop.

The request's own unit of work only reads (on SQLite it takes no write lock, so plain allows
never queue behind writers); evidence of a decision that is not a plain allow is written in a
short transaction of its own, committed before the answer is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.db import transaction
from corral.core.errors import PermissionDenied
from corral.core.metrics import Metrics
from corral.core.pagination import paginate
from corral.governance import evidence
from corral.governance.halts.cache import HaltCache
from corral.governance.halts.matching import ActiveHalt, Subject
from corral.governance.models import DecisionPolicy, DecisionRecord
from corral.governance.policy_sets import PolicySetCache
from corral.identity.access import AppScope
from corral.telemetry.normalize import derive
from corral_sdk.policy import Action, Decision

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Decider:
    """What the decision API needs, built once by the container."""

    policy_sets: PolicySetCache
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    # True when `take` blocks on the network (Redis): throttled decisions go to a thread.
    offload_throttles: bool
    # Active halts, checked before any policy; None only in tests of policies alone.
    halts: HaltCache | None = None


@dataclass(frozen=True, slots=True)
class ProposedCall:
    name: str
    attributes: Mapping[str, Any]
    agent: str | None
    end_user: str | None
    trace_id: str | None = None
    span_id: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    decision: Decision
    decision_id: str | None
    # Set when a halt refused the call (the decision is then a block without a policy).
    halt: ActiveHalt | None = None


def _end_user(scope: AppScope, requested: str | None) -> str | None:
    if scope.end_user_id is None:
        return requested
    if requested is not None and requested != scope.end_user_id:
        raise PermissionDenied(
            "acting as an end-user, decisions are made for that end-user only",
            code="impersonation_forbidden",
        )
    return scope.end_user_id


def _alert(scope: AppScope, decision: Decision, decision_id: str | None) -> None:
    # The `policy.alert` webhook is queued with the evidence; this is the operator's log line.
    for alert in decision.alerts:
        _log.warning(
            "policy.alert",
            application_id=scope.application_id,
            policy_id=alert.policy_id,
            policy_name=alert.policy_name,
            alert_message=alert.message,
            decision_id=decision_id,
        )


async def decide(
    session: AsyncSession, scope: AppScope, decider: Decider, call: ProposedCall
) -> DecisionOutcome:
    """Decide one proposed call; record it unless it is a plain allow."""
    scope.require("decisions:write")
    end_user = _end_user(scope, call.end_user)
    derived = derive(call.name, call.attributes)
    halt = await _halt(session, decider, scope, call, end_user or derived["end_user_id"], derived)
    if halt is not None:
        return await _halted(decider, scope, call, end_user, derived, halt)
    compiled = await decider.policy_sets.current(session, scope.application_id)
    run = functools.partial(
        compiled.policy_set.decide, call.name, call.attributes, agent=call.agent, end_user=end_user
    )
    if decider.offload_throttles and compiled.enforces_throttle(call.name):
        decision = await anyio.to_thread.run_sync(run)
    else:
        decision = run()
    metrics = decider.metrics
    metrics.policy_decisions.labels(action=decision.action.value, source="api").inc()
    if decision.errors:
        metrics.policy_evaluation_errors.labels(source="api").inc(len(decision.errors))
    if decision.plain_allow:
        return DecisionOutcome(decision, None)
    row = evidence.from_decision(
        decision,
        org_id=scope.org_id,
        application_id=scope.application_id,
        call_name=call.name,
        agent=call.agent or derived["agent_name"] or derived["agent_id"],
        end_user=end_user or derived["end_user_id"],
        trace_id=call.trace_id,
        span_id=call.span_id,
    )
    async with transaction(decider.sessions) as write:
        await evidence.insert(write, [row], actor=scope.caller.actor)
    _alert(scope, decision, row["decision_id"])
    return DecisionOutcome(decision, row["decision_id"])


async def _halt(
    session: AsyncSession,
    decider: Decider,
    scope: AppScope,
    call: ProposedCall,
    end_user: str | None,
    derived: Mapping[str, Any],
) -> ActiveHalt | None:
    if decider.halts is None:
        return None
    model = call.attributes.get("gen_ai.request.model") or derived.get("model")
    subject = Subject(
        agent=call.agent or derived.get("agent_name"),
        end_user=end_user,
        model=model if isinstance(model, str) else None,
        run_id=scope.caller.run_id,
    )
    return await decider.halts.covering(scope.application_id, subject, session)


async def _halted(
    decider: Decider,
    scope: AppScope,
    call: ProposedCall,
    end_user: str | None,
    derived: Mapping[str, Any],
    halt: ActiveHalt,
) -> DecisionOutcome:
    """A halt answers before any policy: a block with no policy.

    Not written as policy evidence: no policy decided it, and a halted agent retrying in a loop
    would otherwise send a `policy.blocked` webhook per attempt. The halt itself is the record
    (audited and announced once, when it was made)."""
    decider.metrics.policy_decisions.labels(action="halted", source="api").inc()
    _log.debug(
        "decision.halted",
        application_id=scope.application_id,
        halt_id=halt.id,
        call=call.name,
        agent=call.agent or derived["agent_name"],
        end_user=end_user or derived["end_user_id"],
    )
    return DecisionOutcome(Decision(Action.BLOCK, message=f"halted: {halt.describe}"), None, halt)


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    policy_id: str | None,
    action: str | None,
    source: str | None,
    agent: str | None,
    end_user: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[DecisionRecord], str | None]:
    """Recorded decisions, newest first. `policy_id` finds every decision the policy took part
    in: decided, matched (log, alert, admitted throttle), shadow, or failed to evaluate."""
    scope.require("policies:read")
    query = select(DecisionRecord).where(DecisionRecord.application_id == scope.application_id)
    if scope.end_user_id is not None:
        query = query.where(DecisionRecord.end_user == scope.end_user_id)
    if policy_id is not None:
        query = query.where(
            DecisionRecord.id.in_(
                select(DecisionPolicy.record_id).where(
                    DecisionPolicy.application_id == scope.application_id,
                    DecisionPolicy.policy_id == policy_id,
                )
            )
        )
    for column, value in (
        (DecisionRecord.action, action),
        (DecisionRecord.source, source),
        (DecisionRecord.agent, agent),
        (DecisionRecord.end_user, end_user),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(DecisionRecord.created_at >= since)
    if until is not None:
        query = query.where(DecisionRecord.created_at < until)
    return await paginate(session, query, DecisionRecord.id, cursor=cursor, limit=limit)


async def in_trace(
    session: AsyncSession,
    scope: AppScope,
    trace_id: str,
    *,
    since: datetime,
    until: datetime,
    limit: int = 200,
) -> Sequence[DecisionRecord]:
    """Decisions recorded for one trace, oldest first. The caller bounds the time (the trace's
    span, with slack for clock skew) so the `(application_id, created_at)` index does the work:
    `trace_id` itself has no index."""
    scope.require("policies:read")
    query = select(DecisionRecord).where(
        DecisionRecord.application_id == scope.application_id,
        DecisionRecord.created_at >= since,
        DecisionRecord.created_at < until,
        DecisionRecord.trace_id == trace_id,
    )
    if scope.end_user_id is not None:
        query = query.where(DecisionRecord.end_user == scope.end_user_id)
    rows = await session.scalars(
        query.order_by(DecisionRecord.created_at, DecisionRecord.id).limit(limit)
    )
    return rows.all()
