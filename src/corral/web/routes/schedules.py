"""Schedules: the list with each one's next fire times, create, edit, switch on and off, delete,
and the fire-time preview the form shows as the cron expression is typed (htmx)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.agents import service as agents
from corral.api.deps import ContainerDep, SessionDep
from corral.api.errors import status_of
from corral.core.errors import CorralError
from corral.core.pagination import MAX_PAGE_SIZE
from corral.runs import cron, schedules
from corral.runs.models import Schedule
from corral.runs.schedule_schemas import ScheduleCreate, ScheduleUpdate
from corral.web.agent_forms import Problem, pretty, read_input, validation_problems
from corral.web.control import PAGE_SIZE, attempt, discard, scope_of, show_refusal, when
from corral.web.errors import error_page, page_router
from corral.web.fire_times import fire_times_shown
from corral.web.listing import next_page_url
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

SCHEDULES_PATH = "/schedules"
LISTED_FIRES = 3
PREVIEW_FIRES = 5
ScheduleId = Annotated[str, Path(max_length=64)]
Field = Annotated[str, Form(max_length=255)]
InputField = Annotated[str, Form(max_length=300_000)]
_NEW = {
    "name": "",
    "agent": "",
    "agent_version": "",
    "cron": "0 9 * * 1-5",
    "timezone": "UTC",
    "input": "{}",
    "enabled": "on",
}


def _preview_context(expression: str, timezone: str) -> dict[str, Any]:
    fires, problem = fire_times_shown(expression, timezone, PREVIEW_FIRES)
    return {"fires": fires, "cron_problem": problem}


async def _agent_choices(session: AsyncSession, viewer: Viewer) -> list[str]:
    if not viewer.can("agents:read"):
        return []
    rows, _ = await agents.list_page(
        session, scope_of(viewer), q=None, cursor=None, limit=MAX_PAGE_SIZE
    )
    return sorted(agent.name for agent in rows)


def _problems_of(refusal: CorralError) -> list[Problem]:
    field = refusal.extra.get("field")
    errors = refusal.extra.get("errors")
    if isinstance(errors, list) and errors:
        return [
            Problem(str(e.get("field", "")), str(e.get("message", "")))
            for e in errors
            if isinstance(e, dict)
        ]
    return [Problem(str(field) if field else "", refusal.detail)]


async def _rows(
    session: AsyncSession, viewer: Viewer, found: Sequence[Schedule]
) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    if viewer.can("agents:read"):
        names = await agents.names_by_id(session, scope_of(viewer), [s.agent_id for s in found])
    rows = []
    for schedule in found:
        fires: list[str] = []
        if schedule.enabled:
            fires, _ = fire_times_shown(schedule.cron, schedule.timezone, LISTED_FIRES)
        rows.append(
            {
                "schedule": schedule,
                "agent_name": names.get(schedule.agent_id),
                "fires": fires,
                "last_run_at": when(schedule.last_run_at),
            }
        )
    return rows


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    agent: str = "",
    cursor: str | None = None,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    scope = scope_of(viewer)
    found, next_cursor = await schedules.list_page(
        session, scope, agent=agent or None, enabled=None, cursor=cursor, limit=PAGE_SIZE
    )
    shown = typed or {**_NEW, "agent": agent}
    context = page_context(
        request,
        viewer,
        title="Schedules",
        creating=True,
        schedules=await _rows(session, viewer, found),
        agent_filter=agent,
        paged=cursor is not None,
        first_url=SCHEDULES_PATH + (f"?{urlencode({'agent': agent})}" if agent else ""),
        next_url=next_page_url(SCHEDULES_PATH, {"agent": agent}, next_cursor),
        typed=shown,
        problems=problems or [],
        agent_choices=await _agent_choices(session, viewer),
        **_preview_context(shown["cron"], shown["timezone"]),
    )
    return pages.render("schedules.html", context, status_code=status_code)


@router.get(SCHEDULES_PATH)
async def schedules_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    agent: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return await _list_page(request, viewer, session, pages, agent=agent.strip(), cursor=cursor)


@router.get(SCHEDULES_PATH + "/preview")
async def preview_fragment(
    request: Request,
    viewer: ViewerDep,
    pages: PagesDep,
    cron: Annotated[str, Query(max_length=cron.MAX_CRON_CHARS)] = "",
    timezone: Annotated[str, Query(max_length=64)] = "UTC",
) -> Response:
    """The next fire times of what is typed: a fragment htmx swaps into the form."""
    scope_of(viewer).require("schedules:read")
    context = page_context(request, viewer, **_preview_context(cron, timezone))
    return pages.render("_cron_preview.html", context)


def _typed(
    name: str,
    agent: str,
    agent_version: str,
    cron_text: str,
    timezone: str,
    input_text: str,
    enabled: str,
) -> dict[str, str]:
    return {
        "name": name,
        "agent": agent,
        "agent_version": agent_version,
        "cron": cron_text,
        "timezone": timezone,
        "input": input_text,
        "enabled": enabled,
    }


def _body(typed: dict[str, str], run_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": typed["name"].strip(),
        "agent": typed["agent"].strip(),
        "agent_version": typed["agent_version"].strip() or None,
        "cron": typed["cron"],
        "timezone": typed["timezone"].strip(),
        "input": run_input,
        "enabled": bool(typed["enabled"]),
    }


@router.post(SCHEDULES_PATH)
async def create_schedule(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Field = "",
    agent: Field = "",
    agent_version: Field = "",
    cron: Field = "",
    timezone: Field = "UTC",
    input: InputField = "{}",
    enabled: Field = "",
) -> Response:
    scope = scope_of(viewer)
    scope.require("schedules:write")
    typed = _typed(name, agent, agent_version, cron, timezone, input, enabled)

    async def again(fresh: AsyncSession, code: int, problems: list[Problem]) -> Response:
        return await _list_page(
            request, viewer, fresh, pages, status_code=code, typed=typed, problems=problems
        )

    run_input, problems = read_input(input)
    if run_input is None:
        return await again(session, 422, [Problem("input", p.message) for p in problems])
    try:
        body = ScheduleCreate.model_validate(_body(typed, run_input))
    except ValidationError as exc:
        return await again(session, 422, validation_problems(exc))
    created = await attempt(session, schedules.create(session, scope, body))
    if isinstance(created, CorralError):
        refusal = created
        return await show_refusal(
            container,
            session,
            refusal,
            lambda fresh, code, _: again(fresh, code, _problems_of(refusal)),
        )
    return after_post(request, f"{SCHEDULES_PATH}/{created.id}")


async def _detail_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    schedule_id: str,
    *,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    scope = scope_of(viewer)
    schedule = await schedules.get(session, scope, schedule_id)
    names = (
        await agents.names_by_id(session, scope, [schedule.agent_id])
        if viewer.can("agents:read")
        else {}
    )
    agent_name = names.get(schedule.agent_id)
    shown = typed or _typed(
        schedule.name,
        agent_name or schedule.agent_id,
        schedule.agent_version or "",
        schedule.cron,
        schedule.timezone,
        pretty(schedule.input),
        "on" if schedule.enabled else "",
    )
    context = page_context(
        request,
        viewer,
        title=f"Schedule {schedule.name}",
        creating=False,
        schedule=schedule,
        agent_name=agent_name,
        next_run=when(schedule.next_run_at),
        last_run=when(schedule.last_run_at),
        created=when(schedule.created_at),
        updated=when(schedule.updated_at),
        typed=shown,
        problems=problems or [],
        agent_choices=await _agent_choices(session, viewer),
        **_preview_context(shown["cron"], shown["timezone"]),
    )
    return pages.render("schedule.html", context, status_code=status_code)


@router.get(SCHEDULES_PATH + "/{schedule_id}")
async def schedule_page(
    request: Request,
    schedule_id: ScheduleId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
) -> Response:
    return await _detail_page(request, viewer, session, pages, schedule_id)


@router.post(SCHEDULES_PATH + "/{schedule_id}")
async def update_schedule(
    request: Request,
    schedule_id: ScheduleId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Field = "",
    agent: Field = "",
    agent_version: Field = "",
    cron: Field = "",
    timezone: Field = "UTC",
    input: InputField = "{}",
    enabled: Field = "",
) -> Response:
    scope = scope_of(viewer)
    scope.require("schedules:write")
    typed = _typed(name, agent, agent_version, cron, timezone, input, enabled)

    async def again(fresh: AsyncSession, code: int, problems: list[Problem]) -> Response:
        return await _detail_page(
            request,
            viewer,
            fresh,
            pages,
            schedule_id,
            status_code=code,
            typed=typed,
            problems=problems,
        )

    run_input, problems = read_input(input)
    if run_input is None:
        return await again(session, 422, [Problem("input", p.message) for p in problems])
    try:
        # On and off is its own button (switching off asks first), not a field of this form.
        body = ScheduleUpdate.model_validate(
            {k: v for k, v in _body(typed, run_input).items() if k != "enabled"}
        )
    except ValidationError as exc:
        return await again(session, 422, validation_problems(exc))
    updated = await attempt(session, schedules.update(session, scope, schedule_id, body))
    if isinstance(updated, CorralError):
        refusal = updated
        return await show_refusal(
            container,
            session,
            refusal,
            lambda fresh, code, _: again(fresh, code, _problems_of(refusal)),
        )
    return after_post(request, f"{SCHEDULES_PATH}/{schedule_id}")


@router.post(SCHEDULES_PATH + "/{schedule_id}/enabled")
async def switch_schedule(
    request: Request,
    schedule_id: ScheduleId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    enabled: Field = "",
) -> Response:
    body = ScheduleUpdate(enabled=enabled == "true")
    switched = await attempt(
        session, schedules.update(session, scope_of(viewer), schedule_id, body)
    )
    if isinstance(switched, CorralError):
        # Switching on may be refused after the flag was set: nothing of it is committed.
        page = error_page(request, status_of(switched), switched.title, switched.detail)
        return await discard(session, page)
    return after_post(request, f"{SCHEDULES_PATH}/{schedule_id}")


@router.post(SCHEDULES_PATH + "/{schedule_id}/delete")
async def delete_schedule(
    request: Request, schedule_id: ScheduleId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    await schedules.delete(session, scope_of(viewer), schedule_id)
    return after_post(request, SCHEDULES_PATH)
