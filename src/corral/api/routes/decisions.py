"""Server-side policy decisions for agents in any language, and the recorded evidence."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS
from corral.core.pagination import Page
from corral.governance import decisions
from corral.governance.models import DecisionRecord
from corral.governance.schemas import ActionName, DecisionRead, DecisionRequest, DecisionResponse

router = APIRouter(tags=["decisions"], responses=ERRORS)

# W3C Trace Context: version-traceid-parentid-flags; all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
Text = Annotated[str | None, Query(max_length=500)]


def _trace_context(traceparent: str | None) -> tuple[str | None, str | None]:
    found = _TRACEPARENT.match(traceparent.strip().lower()) if traceparent else None
    if found is None or set(found.group(1)) == {"0"} or set(found.group(2)) == {"0"}:
        return None, None
    return found.group(1), found.group(2)


@router.post("/api/decisions", response_model=DecisionResponse)
async def decide(
    body: DecisionRequest,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    response: Response,
    traceparent: Annotated[
        str | None,
        Header(max_length=100, description="W3C trace context; recorded with the evidence."),
    ] = None,
) -> DecisionResponse:
    """Decide a proposed call with the application's policies. `throttle` means: refused, retry
    after `retry_after_seconds`. Every answer but a plain allow is recorded (`decision_id`).
    An active halt covering the call answers first: `block` with `code: halted` and `halt_id`."""
    trace_id, span_id = _trace_context(traceparent)
    outcome = await decisions.decide(
        session,
        scope,
        container.decider,
        decisions.ProposedCall(
            name=body.name,
            attributes=body.attributes,
            agent=body.agent,
            end_user=body.end_user,
            trace_id=trace_id,
            span_id=span_id,
        ),
    )
    decision = outcome.decision
    if decision.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_seconds)))
    return DecisionResponse(
        decision_id=outcome.decision_id,
        action=decision.action.value,
        policy_id=decision.policy_id,
        policy_name=decision.policy_name,
        message=decision.message,
        replacement=decision.replacement,
        retry_after_seconds=decision.retry_after_seconds,
        code="halted" if outcome.halt is not None else None,
        halt_id=outcome.halt.id if outcome.halt is not None else None,
    )


def _read(record: DecisionRecord) -> DecisionRead:
    return DecisionRead.model_validate(record)


@router.get("/api/decisions", response_model=Page[DecisionRead])
async def list_decisions(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    policy_id: Annotated[str | None, Query(max_length=128)] = None,
    action: ActionName | None = None,
    source: Literal["api", "sdk", "sidecar"] | None = None,
    agent: Text = None,
    end_user: Text = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
) -> Page[DecisionRead]:
    """Recorded decisions, newest first. `policy_id` finds the decisions a policy took part in
    (decided, matched, shadow or failed)."""
    rows, cursor = await decisions.list_page(
        session,
        scope,
        policy_id=policy_id,
        action=action,
        source=source,
        agent=agent,
        end_user=end_user,
        since=since,
        until=until,
        cursor=page.cursor,
        limit=page.limit,
    )
    return Page[DecisionRead](data=[_read(r) for r in rows], next_cursor=cursor)
