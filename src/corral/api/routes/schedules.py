"""Schedules of the current application: cron in a time zone, on/off, next-run preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from corral.api.deps import AppScopeDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.pagination import Page
from corral.runs import cron, schedules
from corral.runs.schedule_schemas import (
    MAX_PREVIEW,
    FireTime,
    ScheduleCreate,
    SchedulePreview,
    ScheduleRead,
    ScheduleUpdate,
)

router = APIRouter(tags=["schedules"], responses=ERRORS)

ScheduleId = Annotated[str, Path(max_length=64)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("A schedule with this name exists in the application.")
}


@router.get("/api/schedules", response_model=Page[ScheduleRead])
async def list_schedules(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    agent: Annotated[
        str | None, Query(max_length=64, description="Only this agent's (id or name).")
    ] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled, or disabled, ones.")] = None,
) -> Page[ScheduleRead]:
    """The application's schedules, newest first."""
    rows, cursor = await schedules.list_page(
        session, scope, agent=agent, enabled=enabled, cursor=page.cursor, limit=page.limit
    )
    return Page[ScheduleRead](
        data=[ScheduleRead.model_validate(r) for r in rows], next_cursor=cursor
    )


@router.post(
    "/api/schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleRead,
    responses=_CONFLICT,
)
async def create_schedule(
    body: ScheduleCreate, scope: AppScopeDep, session: SessionDep
) -> ScheduleRead:
    """Run an agent on a cron schedule; its agent, version and input are checked now."""
    return ScheduleRead.model_validate(await schedules.create(session, scope, body))


@router.get("/api/schedules/{schedule_id}", response_model=ScheduleRead)
async def get_schedule(
    schedule_id: ScheduleId, scope: AppScopeDep, session: SessionDep
) -> ScheduleRead:
    """One schedule."""
    return ScheduleRead.model_validate(await schedules.get(session, scope, schedule_id))


@router.patch("/api/schedules/{schedule_id}", response_model=ScheduleRead, responses=_CONFLICT)
async def update_schedule(
    schedule_id: ScheduleId, body: ScheduleUpdate, scope: AppScopeDep, session: SessionDep
) -> ScheduleRead:
    """Change the fields sent; `enabled` switches it on (from the next window) or off."""
    return ScheduleRead.model_validate(await schedules.update(session, scope, schedule_id, body))


@router.delete("/api/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(schedule_id: ScheduleId, scope: AppScopeDep, session: SessionDep) -> None:
    """Delete the schedule; the runs it created stay."""
    await schedules.delete(session, scope, schedule_id)


@router.get("/api/schedules/{schedule_id}/preview", response_model=SchedulePreview)
async def preview_schedule(
    schedule_id: ScheduleId,
    scope: AppScopeDep,
    session: SessionDep,
    count: Annotated[int, Query(ge=1, le=MAX_PREVIEW, description="How many fire times.")] = 5,
) -> SchedulePreview:
    """The next fire times from now, in UTC and on the schedule's wall clock."""
    schedule = await schedules.get(session, scope, schedule_id)
    zone = cron.check_timezone(schedule.timezone)
    return SchedulePreview(
        schedule_id=schedule.id,
        cron=schedule.cron,
        timezone=schedule.timezone,
        fire_times=[
            FireTime(at=at, local=at.astimezone(zone))
            for at in schedules.preview(schedule, count=count)
        ],
    )
