"""Rows for page tests, written straight to the database: runs stay queued in tests (no
sandbox worker), and spans would otherwise need an OTLP exporter."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, update

from corral.container import Container
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import new_id
from corral.governance.models import DecisionRecord
from corral.runs.models import Run, RunEvent
from corral.traces.models import Span, Trace


async def add_run(container: Container, org_id: str, app_id: str, **values: Any) -> str:
    run_id = new_id("run")
    row: dict[str, Any] = {
        "id": run_id,
        "org_id": org_id,
        "application_id": app_id,
        "agent_name": "summarizer",
        "manifest": {},
        "prompt": "",
        "status": "queued",
        "input": {},
        "trace_id": "0" * 31 + "1",
        "timeout_seconds": 60,
        "created_by": "test",
        "created_at": utcnow(),
        "next_event_seq": 1,
        **values,
    }
    async with transaction(container.sessions) as session:
        await session.execute(insert(Run), [row])
    return run_id


async def add_events(
    container: Container, run_id: str, first_seq: int, events: list[tuple[str, dict[str, Any]]]
) -> None:
    rows = [
        {"run_id": run_id, "seq": first_seq + i, "at": utcnow(), "kind": kind, "data": data}
        for i, (kind, data) in enumerate(events)
    ]
    async with transaction(container.sessions) as session:
        await session.execute(insert(RunEvent), rows)
        await session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(next_event_seq=first_seq + len(events))
            .execution_options(synchronize_session=False)
        )


def span_row(
    org_id: str,
    app_id: str,
    trace_id: str,
    span_id: str,
    parent: str | None,
    start: datetime,
    duration_ms: int,
    **values: Any,
) -> dict[str, Any]:
    return {
        "id": new_id("spn"),
        "org_id": org_id,
        "application_id": app_id,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": f"span {span_id}",
        "kind": "internal",
        "category": "other",
        "call_name": "",
        "start_time": start,
        "end_time": start + timedelta(milliseconds=duration_ms),
        "duration_ms": duration_ms,
        "status": "ok",
        "status_message": "",
        "attributes": {},
        "resource_attributes": {},
        "events": [],
        **values,
    }


async def add_trace(
    container: Container,
    org_id: str,
    app_id: str,
    trace_id: str,
    spans: list[dict[str, Any]],
    **values: Any,
) -> None:
    start = min(s["start_time"] for s in spans)
    end = max(s["end_time"] for s in spans)
    roots = [s for s in spans if s["parent_span_id"] is None]
    trace: dict[str, Any] = {
        "id": new_id("trc"),
        "org_id": org_id,
        "application_id": app_id,
        "trace_id": trace_id,
        "start_time": start,
        "end_time": end,
        "span_count": len(spans),
        "error_count": sum(1 for s in spans if s["status"] == "error"),
        "root_name": roots[0]["name"] if roots else None,
        "agent_name": roots[0].get("agent_name") if roots else None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": Decimal(0),
        **values,
    }
    async with transaction(container.sessions) as session:
        await session.execute(insert(Span), spans)
        await session.execute(insert(Trace), [trace])


async def add_decision(
    container: Container, org_id: str, app_id: str, trace_id: str, **values: Any
) -> None:
    row: dict[str, Any] = {
        "id": new_id("dec"),
        "org_id": org_id,
        "application_id": app_id,
        "decision_id": new_id("d"),
        "source": "api",
        "call_name": "tool.shell",
        "action": "block",
        "trace_id": trace_id,
        "created_at": utcnow(),
        **values,
    }
    async with transaction(container.sessions) as session:
        await session.execute(insert(DecisionRecord), [row])
