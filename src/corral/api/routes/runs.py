"""Hosted runs: start (installed or inline), read with `?wait=`, logs, events (SSE), cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, status
from starlette.responses import StreamingResponse

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.pagination import Page
from corral.runs import creation, service, watch
from corral.runs.schemas import RunCreate, RunLogPage, RunRead, RunStatus

router = APIRouter(tags=["runs"], responses=ERRORS)

RunId = Annotated[str, Path(max_length=64, description="The run's id (`run_…`).")]
_REFUSED: dict[int | str, dict[str, Any]] = {
    413: problem_response("The inline manifest or prompt is above its limit."),
    429: problem_response("A run rate or the organization's concurrency limit was reached."),
}
_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `id` is the event's sequence number, `event` its "
        "kind; a final `end` event follows the run's last event.",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "The event's sequence number."},
                        "event": {
                            "type": "string",
                            "description": "status, log, model_call, "
                            "tool_call, output, runtime_error, or `end` after the last event.",
                        },
                        "data": {"type": "string", "description": "JSON: seq, at, data."},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/api/runs", status_code=status.HTTP_201_CREATED, response_model=RunRead, responses=_REFUSED
)
async def create_run(
    body: RunCreate,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> RunRead:
    """Queue a run. It is returned at once (`queued`); follow it with `?wait=`, logs or events."""
    run = await creation.create_run(session, scope, container.run_gates, body)
    # After the response, so after the commit: a worker woken earlier would not see the run.
    background.add_task(container.run_signals.queued)
    return service.read(run)


@router.get("/api/runs", response_model=Page[RunRead])
async def list_runs(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[RunStatus | None, Query(description="Only runs in this state.")] = None,
    agent_id: Annotated[str | None, Query(max_length=64, description="Only this agent's.")] = None,
) -> Page[RunRead]:
    """The application's runs, newest first."""
    rows, cursor = await service.list_page(
        session, scope, status=status, agent_id=agent_id, cursor=page.cursor, limit=page.limit
    )
    return Page[RunRead](data=[service.read(r) for r in rows], next_cursor=cursor)


@router.get("/api/runs/{run_id}", response_model=RunRead)
async def get_run(
    run_id: RunId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    wait: Annotated[
        float,
        Query(ge=0, le=watch.MAX_WAIT_SECONDS, description="Seconds to wait for the run to end."),
    ] = 0,
) -> RunRead:
    """The run; with `wait`, answered when it ends or when `wait` seconds have passed."""
    run = await service.get(session, scope, run_id)
    if wait <= 0 or service.has_ended(run):
        return service.read(run)
    watched = service.release_for_wait(run)
    await session.rollback()
    ended = await watch.wait_until_ended(container.sessions, container.run_signals, watched, wait)
    if ended is None:
        raise service.run_not_found()
    return service.read(ended)


@router.get("/api/runs/{run_id}/logs", response_model=RunLogPage)
async def run_logs(
    run_id: RunId,
    scope: AppScopeDep,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, description="The last sequence number already read.")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RunLogPage:
    """The run's events after a cursor, oldest first."""
    run, rows = await service.events_after(session, scope, run_id, after=after, limit=limit)
    return service.log_page(run, rows, after)


@router.get("/api/runs/{run_id}/events", response_class=StreamingResponse, responses=_SSE)
async def run_events(
    run_id: RunId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=20, description="Resume after this event."),
    ] = None,
    after: Annotated[int, Query(ge=0, description="Resume after this sequence number.")] = 0,
) -> StreamingResponse:
    """The run's events as server-sent events, replayed from the log, then live to the end."""
    run = await service.get(session, scope, run_id)
    resume = service.resume_point(last_event_id, after)
    body = watch.stream(
        container.sessions, container.run_signals, service.release_for_wait(run), after=resume
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/api/runs/{run_id}/cancel", response_model=RunRead)
async def cancel_run(
    run_id: RunId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> RunRead:
    """Stop the run: a queued run ends at once, a running one within a second."""
    run, tell_worker = await service.cancel(session, scope, run_id)
    if tell_worker:
        background.add_task(container.run_signals.cancel_requested, run.id)
    else:
        background.add_task(container.run_signals.changed, run.id)
    return service.read(run)
