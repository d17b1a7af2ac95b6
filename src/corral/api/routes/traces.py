"""Querying stored traces and spans (scope `traces:read`), within the caller's application."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from corral.api.deps import AppScopeDep, PageDep, SessionDep
from corral.api.openapi import ERRORS
from corral.core.pagination import Page
from corral.traces import queries
from corral.traces.queries import SpanFilters, TraceFilters
from corral.traces.schemas import SpanRead, TraceDetail, TraceRead

router = APIRouter(tags=["traces"], responses=ERRORS)

_TRACE_ID = r"^[0-9a-fA-F]{32}$"
Text = Annotated[str | None, Query(min_length=1, max_length=500)]
Since = Annotated[
    datetime | None, Query(description="Only what started at or after this instant (RFC 3339).")
]
Until = Annotated[datetime | None, Query(description="Only what started before this instant.")]
Cost = Annotated[Decimal | None, Query(ge=0, le=10**9, max_digits=30, decimal_places=10)]


@router.get("/api/traces", response_model=Page[TraceRead])
async def list_traces(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    agent: Text = None,
    status: Literal["ok", "error"] | None = None,
    end_user: Text = None,
    since: Since = None,
    until: Until = None,
    min_cost: Annotated[Cost, Query(description="Total cost at least this many USD.")] = None,
    max_cost: Annotated[Cost, Query(description="Total cost at most this many USD.")] = None,
) -> Page[TraceRead]:
    """Trace summaries, newest first."""
    filters = TraceFilters(agent, status, end_user, since, until, min_cost, max_cost)
    rows, cursor = await queries.list_traces(
        session, scope, filters, cursor=page.cursor, limit=page.limit
    )
    return Page[TraceRead](data=[TraceRead.model_validate(t) for t in rows], next_cursor=cursor)


@router.get("/api/traces/{trace_id}", response_model=TraceDetail)
async def get_trace(
    trace_id: Annotated[str, Path(max_length=64)], scope: AppScopeDep, session: SessionDep
) -> TraceDetail:
    """One trace with all its spans, earliest first."""
    trace, spans = await queries.get_trace(session, scope, trace_id)
    return TraceDetail.model_validate(
        {
            **TraceRead.model_validate(trace).model_dump(),
            "spans": [SpanRead.model_validate(s) for s in spans],
        }
    )


@router.get("/api/spans", response_model=Page[SpanRead])
async def search_spans(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    trace_id: Annotated[str | None, Query(pattern=_TRACE_ID)] = None,
    tool: Text = None,
    model: Text = None,
    agent: Text = None,
    category: Literal["llm", "tool", "agent", "other"] | None = None,
    status: Literal["ok", "error", "unset"] | None = None,
    end_user: Text = None,
    since: Since = None,
    until: Until = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Case-insensitive text in the span name or an attribute value. Each "
            "request examines a bounded number of spans: a page may hold fewer than `limit` "
            "spans and still have a `next_cursor`.",
        ),
    ] = None,
) -> Page[SpanRead]:
    """Spans matching every filter, newest first."""
    filters = SpanFilters(trace_id, tool, model, agent, category, status, end_user, since, until, q)
    rows, cursor = await queries.search_spans(
        session, scope, filters, cursor=page.cursor, limit=page.limit
    )
    return Page[SpanRead](data=[SpanRead.model_validate(s) for s in rows], next_cursor=cursor)
