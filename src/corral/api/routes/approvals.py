"""Human approvals: list, read (with `?wait=`), request (external agents), approve, deny."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, status

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.pagination import Page
from corral.governance.approvals import decide, service, waiting, withdraw
from corral.governance.approvals.schemas import (
    ApprovalCreate,
    ApprovalDecide,
    ApprovalRead,
    ApprovalStatus,
    Verdict,
)

router = APIRouter(tags=["approvals"], responses=ERRORS)

ApprovalId = Annotated[str, Path(max_length=64, description="The approval's id (`apr_…`).")]
_DECIDE: dict[int | str, dict[str, Any]] = {
    409: problem_response(
        "`approval_expired`, `approval_resolved`, or `already_decided` (you answered otherwise)."
    ),
}


@router.get("/api/approvals", response_model=Page[ApprovalRead])
async def list_approvals(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        ApprovalStatus | None, Query(description="Only requests in this state (default pending).")
    ] = "pending",
    agent: Annotated[str | None, Query(max_length=200, description="Only this agent's.")] = None,
    run_id: Annotated[str | None, Query(max_length=64, description="Only this run's.")] = None,
    any_status: Annotated[bool, Query(description="Every state (ignores `status`).")] = False,
) -> Page[ApprovalRead]:
    """The application's approval requests, newest first."""
    rows, cursor = await service.list_page(
        session,
        scope,
        status=None if any_status else status,
        agent=agent,
        run_id=run_id,
        cursor=page.cursor,
        limit=page.limit,
    )
    found = await service.decisions_of(session, [row.id for row in rows])
    return Page[ApprovalRead](
        data=[service.read(row, found[row.id]) for row in rows], next_cursor=cursor
    )


@router.post(
    "/api/approvals",
    status_code=status.HTTP_201_CREATED,
    response_model=ApprovalRead,
    responses={409: problem_response("`approval_not_required`: no policy holds this call.")},
)
async def request_approval(
    body: ApprovalCreate, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> ApprovalRead:
    """Hold a call for approval. The server decides the call again with the application's
    policies and holds it only when a `require_approval` policy decides it."""
    approval = await service.request_for_call(
        session, scope, container.decider, container.redactor, body
    )
    return await service.read_one(session, approval)


@router.get("/api/approvals/{approval_id}", response_model=ApprovalRead)
async def get_approval(
    approval_id: ApprovalId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=waiting.MAX_WAIT_SECONDS,
            description="Seconds to wait for the request to be resolved or to expire.",
        ),
    ] = 0,
) -> ApprovalRead:
    """The request; with `wait`, answered as soon as it is decided or expires, or after `wait`
    seconds. The wait holds no database connection."""
    approval = await service.get(session, scope, approval_id)
    if wait <= 0 or not service.still_pending(approval):
        return await service.read_one(session, approval)
    watched = waiting.Watched(approval.id, approval.application_id)
    await session.rollback()
    waited = await waiting.wait_until_resolved(
        container.sessions, container.approval_signals, watched, wait
    )
    if waited is None:
        raise service.approval_not_found()
    async with container.sessions() as reading:
        return await service.read_one(reading, waited)


async def _decide(
    approval_id: str,
    verdict: Verdict,
    body: ApprovalDecide | None,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> ApprovalRead:
    decided = await decide.decide(
        session, scope, approval_id, verdict, body.comment if body else None
    )
    if decided.resolved:
        # After the response, so after the commit: a waiter woken earlier would read `pending`.
        background.add_task(container.approval_signals.resolved, [decided.approval.id])
    return await service.read_one(session, decided.approval)


@router.post("/api/approvals/{approval_id}/approve", response_model=ApprovalRead, responses=_DECIDE)
async def approve(
    approval_id: ApprovalId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
    body: ApprovalDecide | None = None,
) -> ApprovalRead:
    """Approve as a signed-in person. Approving twice counts once."""
    return await _decide(approval_id, "approve", body, scope, session, container, background)


@router.post("/api/approvals/{approval_id}/deny", response_model=ApprovalRead, responses=_DECIDE)
async def deny(
    approval_id: ApprovalId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
    body: ApprovalDecide | None = None,
) -> ApprovalRead:
    """Deny as a signed-in person: one deny vetoes the request at once."""
    return await _decide(approval_id, "deny", body, scope, session, container, background)


@router.post(
    "/api/approvals/{approval_id}/withdraw",
    response_model=ApprovalRead,
    responses={403: problem_response("`not_requester`: only the identity that asked may.")},
)
async def withdraw_approval(
    approval_id: ApprovalId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> ApprovalRead:
    """Stop waiting: the requester's own pending request ends as `expired` (`withdrawn` in its
    webhook). A request already decided is answered as it is, so a requester that lost the race
    to an approval learns that it may run the call."""
    withdrawn = await withdraw.withdraw(session, scope, approval_id)
    if withdrawn.resolved:
        background.add_task(container.approval_signals.resolved, [withdrawn.approval.id])
    return await service.read_one(session, withdrawn.approval)
