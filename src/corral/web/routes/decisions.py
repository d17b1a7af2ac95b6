"""Recorded decisions (every answer but a plain allow), newest first, with filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.core.clock import utcnow
from corral.governance import decisions
from corral.web.errors import page_router
from corral.web.listing import WINDOWS, application_scope, choice, next_page_url, window_start
from corral.web.responses import PagesDep, page_context
from corral.web.routes.policies import ACTIONS
from corral.web.viewer import ViewerDep

router = page_router()

DECISIONS_PATH = "/decisions"
PAGE_SIZE = 50
Filter = Annotated[str, Query(max_length=200)]


@router.get(DECISIONS_PATH)
async def decisions_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    action: Filter = "",
    policy: Filter = "",
    agent: Filter = "",
    within: Filter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    scope = application_scope(viewer)
    filters = {"action": action, "policy": policy, "agent": agent, "within": within}
    rows, next_cursor = await decisions.list_page(
        session,
        scope,
        policy_id=policy.strip() or None,
        action=choice("action", action, ACTIONS),
        source=None,
        agent=agent.strip() or None,
        end_user=None,
        since=window_start(within, utcnow()),
        until=None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    return pages.render(
        "decisions.html",
        page_context(
            request,
            viewer,
            title="Decisions",
            decisions=rows,
            filters=filters,
            actions=ACTIONS,
            windows=WINDOWS,
            paged=cursor is not None,
            first_url=DECISIONS_PATH,
            next_url=next_page_url(DECISIONS_PATH, filters, next_cursor),
        ),
    )
