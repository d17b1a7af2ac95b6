"""Reading and cancelling runs; end-user impersonation narrows every read to that end-user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import NotFound
from corral.core.pagination import paginate
from corral.identity.access import AppScope
from corral.runs import events
from corral.runs.announcements import announce
from corral.runs.models import CANCELLED, QUEUED, RUNNING, TERMINAL_STATUSES, Run, RunEvent
from corral.runs.schemas import RunError, RunEventRead, RunLogPage, RunRead, RunStatus
from corral.runs.watch import Watched


def run_not_found() -> NotFound:
    return NotFound("run", code="run_not_found")


def _visible(scope: AppScope) -> Select[Run]:
    query = select(Run).where(Run.application_id == scope.application_id)
    if scope.end_user_id is not None:
        query = query.where(Run.end_user_id == scope.end_user_id)
    return query


async def get(session: AsyncSession, scope: AppScope, run_id: str) -> Run:
    scope.require("runs:read")
    run: Run | None = await session.scalar(_visible(scope).where(Run.id == run_id))
    if run is None:
        raise run_not_found()
    return run


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    status: str | None,
    agent_id: str | None,
    cursor: str | None,
    limit: int,
    since: datetime | None = None,
) -> tuple[Sequence[Run], str | None]:
    scope.require("runs:read")
    query = _visible(scope)
    if status is not None:
        query = query.where(Run.status == status)
    if agent_id is not None:
        query = query.where(Run.agent_id == agent_id)
    if since is not None:
        query = query.where(Run.created_at >= since)
    return await paginate(session, query, Run.id, cursor=cursor, limit=limit)


async def events_after(
    session: AsyncSession, scope: AppScope, run_id: str, *, after: int, limit: int
) -> tuple[Run, Sequence[RunEvent]]:
    run = await get(session, scope, run_id)
    return run, await events.page(session, run_id, after=after, limit=limit)


async def cancel(session: AsyncSession, scope: AppScope, run_id: str) -> tuple[Run, bool]:
    """Ask a run to stop. A queued run ends here; a running one is stopped by its worker.

    Returns the run and whether the worker must be told (it was running).
    """
    scope.require("runs:write")
    run = await get(session, scope, run_id)
    if run.status in TERMINAL_STATUSES:
        return run, False
    now = utcnow()
    # Whoever changes the status first wins: a worker claiming the run, or this cancel.
    ended = await session.execute(
        update(Run)
        .where(Run.id == run.id, Run.status == QUEUED)
        .values(
            status=CANCELLED,
            finished_at=now,
            cancel_requested_at=now,
            error_code="cancelled",
            error_message="cancelled before it started",
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(run)
    audit.record_in_application(
        session, scope, "run.cancelled", target_type="run", target_id=run.id, details={}
    )
    if getattr(ended, "rowcount", 0) == 1:
        session.add(events.next_event(run, events.STATUS, {"status": CANCELLED}))
        await announce(
            session,
            run,
            CANCELLED,
            error_code=run.error_code,
            error_message=run.error_message,
        )
        return run, False
    if run.status == RUNNING and run.cancel_requested_at is None:
        run.cancel_requested_at = now
    return run, run.status == RUNNING


def has_ended(run: Run) -> bool:
    return run.status in TERMINAL_STATUSES


def read(run: Run) -> RunRead:
    error = (
        RunError(code=run.error_code, message=run.error_message or "", details=run.error_details)
        if run.error_code
        else None
    )
    return RunRead(
        id=run.id,
        status=cast(RunStatus, run.status),
        agent_id=run.agent_id,
        agent_name=run.agent_name,
        agent_version=run.agent_version,
        inline=run.inline,
        end_user_id=run.end_user_id,
        input=run.input,
        output=run.output,
        error=error,
        usage=run.usage,
        cost_usd=run.cost_usd,
        trace_id=run.trace_id,
        timeout_seconds=run.timeout_seconds,
        schedule_id=run.schedule_id,
        attempts=run.attempts,
        cancel_requested=run.cancel_requested_at is not None,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def read_event(event: RunEvent) -> RunEventRead:
    return RunEventRead(seq=event.seq, at=event.at, kind=event.kind, data=event.data)


def release_for_wait(run: Run) -> Watched:
    """What a long wait needs of an authorized run, detached from the request's session."""
    return Watched(run_id=run.id, application_id=run.application_id)


def resume_point(last_event_id: str | None, after: int) -> int:
    """Where a stream resumes: the `Last-Event-ID` header wins over `?after=`."""
    if last_event_id and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return after


def log_page(run: Run, rows: Sequence[RunEvent], after: int) -> RunLogPage:
    return RunLogPage(
        data=[read_event(row) for row in rows],
        next_cursor=rows[-1].seq if rows else after,
        status=cast(RunStatus, run.status),
        terminal=run.status in TERMINAL_STATUSES,
    )
