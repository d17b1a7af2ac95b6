"""Traces: the list with filters, span search, and one trace as a waterfall with its decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.core.clock import utcnow
from corral.traces import queries
from corral.traces.queries import SpanFilters, TraceFilters
from corral.web.errors import page_router
from corral.web.listing import (
    WINDOWS,
    application_scope,
    choice,
    next_page_url,
    pretty_json,
    window_start,
)
from corral.web.responses import PagesDep, page_context
from corral.web.trace_view import trace_view
from corral.web.viewer import ViewerDep

router = page_router()

TRACES_PATH = "/traces"
PAGE_SIZE = 50
TRACE_STATUSES = ("ok", "error")
# Candidate spans one page of a text search examines (the API's default is 20,000): a page is
# answered fast and its "Next page" continues the scan.
SEARCH_SCAN_ROWS = 5_000
Filter = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get(TRACES_PATH)
async def traces_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    agent: Filter = "",
    status: Filter = "",
    window: Filter = "",
    q: Filter = "",
    cursor: Cursor = None,
) -> Response:
    """Trace summaries; with `q`, the spans whose name or attributes contain the text."""
    scope = application_scope(viewer)
    since = window_start(window, utcnow())
    chosen_status = choice("status", status, TRACE_STATUSES)
    filters = {"agent": agent, "status": status, "window": window, "q": q}
    context = page_context(
        request,
        viewer,
        title="Traces",
        filters=filters,
        statuses=TRACE_STATUSES,
        windows=WINDOWS,
        paged=cursor is not None,
        first_url=TRACES_PATH,
        traces=[],
        spans=[],
    )
    if q.strip():
        # A span's status is ok/error/unset; the trace filter's "ok" means "no error".
        span_rows, next_cursor = await queries.search_spans(
            session,
            scope,
            SpanFilters(
                agent=agent or None,
                status="error" if chosen_status == "error" else None,
                since=since,
                q=q.strip(),
            ),
            cursor=cursor,
            limit=PAGE_SIZE,
            scan_rows=SEARCH_SCAN_ROWS,
        )
        context["spans"] = span_rows
    else:
        trace_rows, next_cursor = await queries.list_traces(
            session,
            scope,
            TraceFilters(agent=agent or None, status=chosen_status, since=since),
            cursor=cursor,
            limit=PAGE_SIZE,
        )
        context["traces"] = trace_rows
    context["next_url"] = next_page_url(TRACES_PATH, filters, next_cursor)
    return pages.render("traces.html", context)


@router.get(TRACES_PATH + "/{trace_id}")
async def trace_page(
    request: Request,
    trace_id: Annotated[str, Path(max_length=64)],
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
) -> Response:
    view = await trace_view(session, viewer, application_scope(viewer), trace_id)
    return pages.render(
        "trace.html",
        page_context(
            request,
            viewer,
            title=f"Trace {view.trace.trace_id}",
            pretty_json=pretty_json,
            **view.context(),
        ),
    )
