"""Approvals: pending requests as cards with approve and deny; decided and expired ones."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, get_args

from fastapi import BackgroundTasks, Form, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.core.errors import CorralError
from corral.governance.approvals import decide, service
from corral.governance.approvals.schemas import MAX_COMMENT_CHARS, ApprovalRead, Verdict
from corral.identity.services import display_names
from corral.web.control import PAGE_SIZE, attempt, discard, scope_of, when
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep, reading

router = page_router()

APPROVALS_PATH = "/approvals"
Tab = Literal["pending", "approved", "denied", "expired"]
TABS: tuple[Tab, ...] = get_args(Tab)
ApprovalId = Annotated[str, Path(max_length=64)]


async def requester_names(
    session: AsyncSession, viewer: Viewer, approvals: Iterable[ApprovalRead]
) -> dict[str, str]:
    """The requesting users' and API keys' names, so a card says who asked, not only an id."""
    asked = [a.requested_by for a in approvals if a.requested_by.id is not None]
    return await display_names.user_and_key_names(
        session,
        scope_of(viewer).org_id,
        user_ids=[r.id for r in asked if r.type == "user" and r.id],
        key_ids=[r.id for r in asked if r.type == "api_key" and r.id],
    )


def card(viewer: Viewer, approval: ApprovalRead, names: Mapping[str, str]) -> dict[str, Any]:
    """What a card shows, and whether this viewer may answer it (the service decides anyway)."""
    mine = approval.requested_by.type == "user" and approval.requested_by.id == viewer.user.id
    answered = next((d.verdict for d in approval.decisions if d.user_id == viewer.user.id), None)
    return {
        "approval": approval,
        "arguments": json.dumps(approval.arguments, indent=2, sort_keys=True, ensure_ascii=False),
        "expires": when(approval.expires_at),
        "created": when(approval.created_at),
        "resolved": when(approval.resolved_at),
        "decisions": [{**d.model_dump(), "when": when(d.created_at)} for d in approval.decisions],
        "mine": mine,
        "requester": names.get(approval.requested_by.id or ""),
        "answered": answered,
        "can_decide": viewer.can("approvals:decide")
        and approval.status == "pending"
        and not mine
        and answered is None,
        "comment_max": MAX_COMMENT_CHARS,
    }


@router.get(APPROVALS_PATH)
async def approvals_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    status: Tab = "pending",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    scope = scope_of(viewer)
    rows, next_cursor = await service.list_page(
        session, scope, status=status, agent=None, run_id=None, cursor=cursor, limit=PAGE_SIZE
    )
    found = await service.decisions_of(session, [row.id for row in rows])
    approvals = [service.read(row, found[row.id]) for row in rows]
    names = await requester_names(session, viewer, approvals)
    cards = [card(viewer, approval, names) for approval in approvals]
    return pages.render(
        "approvals.html",
        page_context(
            request,
            viewer,
            title="Approvals",
            tabs=TABS,
            status=status,
            cards=cards,
            next_cursor=next_cursor,
        ),
    )


async def _decide(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    background: BackgroundTasks,
    approval_id: str,
    verdict: Verdict,
    comment: str,
) -> Response:
    scope = scope_of(viewer)
    outcome = await attempt(
        session, decide.decide(session, scope, approval_id, verdict, comment.strip() or None)
    )
    if isinstance(outcome, CorralError):
        if request.headers.get("HX-Request") != "true":
            raise outcome
        # htmx swaps only successful answers: the card comes back with the refusal in it.
        async with reading(container) as fresh:
            approval = await service.read_one(fresh, await service.get(fresh, scope, approval_id))
            names = await requester_names(fresh, viewer, [approval])
        context = page_context(request, viewer, c=card(viewer, approval, names))
        context["error"] = outcome.detail
        return await discard(session, pages.render("_approval_card.html", context))
    if outcome.resolved:
        # After the response, so after the commit: a waiter woken earlier would read `pending`.
        background.add_task(container.approval_signals.resolved, [outcome.approval.id])
    return after_post(request, APPROVALS_PATH)


Comment = Annotated[str, Form(max_length=MAX_COMMENT_CHARS)]


@router.post(APPROVALS_PATH + "/{approval_id}/approve")
async def approve(
    request: Request,
    approval_id: ApprovalId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    background: BackgroundTasks,
    comment: Comment = "",
) -> Response:
    return await _decide(
        request, viewer, session, container, pages, background, approval_id, "approve", comment
    )


@router.post(APPROVALS_PATH + "/{approval_id}/deny")
async def deny(
    request: Request,
    approval_id: ApprovalId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    background: BackgroundTasks,
    comment: Comment = "",
) -> Response:
    return await _decide(
        request, viewer, session, container, pages, background, approval_id, "deny", comment
    )
