"""Runs: the list with filters, and one run with its live log and a Cancel button."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import BackgroundTasks, Path, Query, Request
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.core.clock import utcnow
from corral.runs import service
from corral.runs.events import MAX_PAGE
from corral.runs.schemas import RunStatus
from corral.web.errors import page_router
from corral.web.listing import (
    WINDOWS,
    application_scope,
    choice,
    compact_json,
    next_page_url,
    pretty_json,
    window_start,
)
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.templating import PAGE_HEADERS
from corral.web.trace_view import trace_view_if_recorded
from corral.web.viewer import CheckedViewerDep, ViewerDep

router = page_router()

RUNS_PATH = "/runs"
PAGE_SIZE = 50
STATUSES: tuple[str, ...] = get_args(RunStatus)
RunId = Annotated[str, Path(max_length=64)]
Filter = Annotated[str, Query(max_length=64)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get(RUNS_PATH)
async def runs_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    status: Filter = "",
    agent_id: Filter = "",
    window: Filter = "",
    cursor: Cursor = None,
) -> Response:
    rows, next_cursor = await service.list_page(
        session,
        application_scope(viewer),
        status=choice("status", status, STATUSES),
        agent_id=agent_id or None,
        since=window_start(window, utcnow()),
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    filters = {"status": status, "agent_id": agent_id, "window": window}
    return pages.render(
        "runs.html",
        page_context(
            request,
            viewer,
            title="Runs",
            runs=[service.read(row) for row in rows],
            filters=filters,
            statuses=STATUSES,
            windows=WINDOWS,
            paged=cursor is not None,
            first_url=RUNS_PATH,
            next_url=next_page_url(RUNS_PATH, filters, next_cursor),
        ),
    )


@router.get(RUNS_PATH + "/{run_id}")
async def run_page(
    request: Request, run_id: RunId, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    scope = application_scope(viewer)
    run, rows = await service.events_after(session, scope, run_id, after=0, limit=MAX_PAGE)
    shown = service.read(run)
    traced = await trace_view_if_recorded(session, viewer, scope, run.trace_id)
    return pages.render(
        "run.html",
        page_context(
            request,
            viewer,
            title=f"Run {shown.id}",
            run=shown,
            events=[
                {"seq": row.seq, "at": row.at, "kind": row.kind, "text": compact_json(row.data)}
                for row in rows
            ],
            last_seq=rows[-1].seq if rows else 0,
            live=not service.has_ended(run),
            can_cancel=viewer.can("runs:write") and not service.has_ended(run),
            pretty_json=pretty_json,
            traced=traced.context() if traced else None,
        ),
    )


@router.post(RUNS_PATH + "/{run_id}/cancel")
async def cancel_run(
    request: Request,
    run_id: RunId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> Response:
    run, tell_worker = await service.cancel(session, application_scope(viewer), run_id)
    # After the response, so after the commit, as the API does.
    if tell_worker:
        background.add_task(container.run_signals.cancel_requested, run.id)
    else:
        background.add_task(container.run_signals.changed, run.id)
    if request.headers.get("HX-Request") == "true":
        # The page stays: its live log shows the status change and reloads when the run ends
        # (a redirect now would cut the event stream off mid-response).
        return Response(status_code=204, headers=dict(PAGE_HEADERS))
    return after_post(request, f"{RUNS_PATH}/{run.id}")
