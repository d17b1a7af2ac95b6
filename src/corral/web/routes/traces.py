"""Traces: the list with filters, span search, and one trace as a waterfall with its decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Path, Query, Request
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.core.clock import utcnow
from corral.governance import decisions
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
from corral.web.viewer import ViewerDep
from corral.web.waterfall import layout

router = page_router()

TRACES_PATH = "/traces"
PAGE_SIZE = 50
TRACE_STATUSES = ("ok", "error")
# Decisions are stamped by the server when recorded, spans by the agent's clock.
DECISION_SLACK = timedelta(minutes=5)
# Rendering costs about 0.15 ms a span (bench/dashboard_pages.py): a huge trace shows its first
# spans in waterfall order and points to the API for the rest.
MAX_WATERFALL_SPANS = 500
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
    scope = application_scope(viewer)
    trace, spans = await queries.get_trace(session, scope, trace_id)
    made = (
        await decisions.in_trace(
            session,
            scope,
            trace.trace_id,
            since=trace.start_time - DECISION_SLACK,
            until=trace.end_time + DECISION_SLACK,
        )
        if viewer.can("policies:read")
        else []
    )
    duration_ms = (trace.end_time - trace.start_time) / timedelta(milliseconds=1)
    return pages.render(
        "trace.html",
        page_context(
            request,
            viewer,
            title=f"Trace {trace.trace_id}",
            trace=trace,
            duration_ms=duration_ms,
            bars=layout(spans)[:MAX_WATERFALL_SPANS],
            span_total=len(spans),
            max_spans=MAX_WATERFALL_SPANS,
            decisions=made,
            pretty_json=pretty_json,
        ),
    )
