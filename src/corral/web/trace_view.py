"""What the trace page and a run's page show of one trace: its waterfall and its decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.errors import NotFound
from corral.governance import decisions
from corral.identity.access import AppScope
from corral.traces import queries
from corral.traces.models import Trace
from corral.web.viewer import Viewer
from corral.web.waterfall import layout

# Decisions are stamped by the server when recorded, spans by the agent's clock.
DECISION_SLACK = timedelta(minutes=5)
# Rendering costs about 0.15 ms a span (bench/dashboard_pages.py): a huge trace shows its first
# spans in waterfall order and points to the API for the rest.
MAX_WATERFALL_SPANS = 500


@dataclass(frozen=True)
class TraceView:
    trace: Trace
    duration_ms: float
    bars: list[Any]
    span_total: int
    decisions: list[Any]

    def context(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "duration_ms": self.duration_ms,
            "bars": self.bars,
            "span_total": self.span_total,
            "max_spans": MAX_WATERFALL_SPANS,
            "decisions": self.decisions,
        }


async def trace_view(
    session: AsyncSession, viewer: Viewer, scope: AppScope, trace_id: str
) -> TraceView:
    """The trace with its spans laid out, and its decisions when the viewer may read policies."""
    trace, spans = await queries.get_trace(session, scope, trace_id)
    made = (
        list(
            await decisions.in_trace(
                session,
                scope,
                trace.trace_id,
                since=trace.start_time - DECISION_SLACK,
                until=trace.end_time + DECISION_SLACK,
            )
        )
        if viewer.can("policies:read")
        else []
    )
    return TraceView(
        trace=trace,
        duration_ms=(trace.end_time - trace.start_time) / timedelta(milliseconds=1),
        bars=layout(spans)[:MAX_WATERFALL_SPANS],
        span_total=len(spans),
        decisions=made,
    )


async def trace_view_if_recorded(
    session: AsyncSession, viewer: Viewer, scope: AppScope, trace_id: str | None
) -> TraceView | None:
    """A run's trace, or None before its first span arrived or without `traces:read`."""
    if trace_id is None or not viewer.can("traces:read"):
        return None
    try:
        return await trace_view(session, viewer, scope, trace_id)
    except NotFound:
        return None
