"""Schedules of an application: create, read, change, switch on and off, delete, preview.

A schedule names an agent (and optionally a published version), a cron expression read on a
time zone's wall clock, and the input of every run. Its agent, version and input are checked
when it is written, so a mistake shows up at once rather than at 3 a.m.; the run service checks
them again when each run is created. `next_run_at` is the next window while enabled, null while
disabled; switching a schedule on, or changing when it fires, starts from the next future window
(the time it was off is never caught up). A key acting as an end-user sees and writes only that
end-user's schedules. Every change writes an audit event in the caller's transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.agents import service as agents
from corral.agents.manifest import Manifest
from corral.agents.models import Agent, AgentVersion
from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, InvalidInput, NotFound
from corral.core.ids import is_well_formed
from corral.core.pagination import paginate
from corral.identity.access import AppScope
from corral.identity.models import EndUser
from corral.runs import creation, cron
from corral.runs.models import Schedule
from corral.runs.schedule_schemas import ScheduleCreate, ScheduleUpdate


def schedule_not_found() -> NotFound:
    return NotFound("schedule", code="schedule_not_found")


def _naming(error: NotFound, field: str) -> NotFound:
    error.extra["field"] = field
    return error


def _audit(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    schedule: Schedule,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="schedule",
        target_id=schedule.id,
        details={"name": schedule.name, **(details or {})},
    )


def next_window(schedule: Schedule, after: datetime) -> datetime | None:
    """The schedule's first window strictly after `after`, whether enabled or not."""
    return cron.next_fire(schedule.cron, cron.check_timezone(schedule.timezone), after)


def preview(schedule: Schedule, *, count: int, now: datetime | None = None) -> list[datetime]:
    """The next `count` windows from now (fewer when the expression stops firing)."""
    zone = cron.check_timezone(schedule.timezone)
    return list(itertools.islice(cron.fire_times(schedule.cron, zone, now or utcnow()), count))


async def _agent(session: AsyncSession, scope: AppScope, reference: str) -> Agent:
    agent = await agents.find(session, scope, reference)
    if agent is None:
        raise _naming(agents.agent_not_found(), "agent")
    return agent


async def _version(session: AsyncSession, agent: Agent, version: str | None) -> AgentVersion:
    """The version a run would use now: the one named, else the newest published one."""
    wanted = version or agent.latest_version
    if wanted is None:
        raise InvalidInput(
            f"agent {agent.name!r} has no published version; publish one or name agent_version",
            code="agent_not_published",
            extra={"field": "agent"},
        )
    record: AgentVersion | None = await session.scalar(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == wanted
        )
    )
    if record is None:
        raise _naming(NotFound("agent version", code="agent_version_not_found"), "agent_version")
    return record


def check_input(version: AgentVersion, value: dict[str, Any]) -> None:
    """The input must satisfy the version's input schema: the runs API's own check."""
    try:
        creation.check_input(Manifest.model_validate(version.manifest), value)
    except InvalidInput as exc:
        exc.extra.setdefault("field", "input")
        raise


async def _end_user(session: AsyncSession, scope: AppScope, requested: str | None) -> str | None:
    """The end-user runs act as: an impersonating key's own, or one of the application's."""
    if scope.end_user_id is not None:
        if requested is not None and requested != scope.end_user_id:
            raise _naming(NotFound("end-user", code="end_user_not_found"), "end_user")
        return scope.end_user_id
    if requested is None:
        return None
    end_user = await session.get(EndUser, requested) if is_well_formed(requested, "eu") else None
    if end_user is None or end_user.application_id != scope.application_id:
        raise _naming(NotFound("end-user", code="end_user_not_found"), "end_user")
    return end_user.id


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a schedule named {name!r} exists in the application", code="schedule_name_taken"
        ) from exc


def _first_window(schedule: Schedule, now: datetime) -> datetime | None:
    if not schedule.enabled:
        return None
    window = next_window(schedule, now)
    if window is None:
        raise InvalidInput(
            f"{schedule.cron!r} never fires in the coming years",
            code="cron_never_fires",
            extra={"field": "cron"},
        )
    return window


async def create(session: AsyncSession, scope: AppScope, body: ScheduleCreate) -> Schedule:
    scope.require("schedules:write")
    agent = await _agent(session, scope, body.agent)
    version = await _version(session, agent, body.agent_version)
    check_input(version, body.input)
    now = utcnow()
    schedule = Schedule(
        org_id=scope.org_id,
        application_id=scope.application_id,
        agent_id=agent.id,
        agent_version=body.agent_version,
        name=body.name,
        cron=body.cron,
        timezone=body.timezone,
        input=body.input,
        enabled=body.enabled,
        end_user_id=await _end_user(session, scope, body.end_user),
        created_by=scope.caller.actor.id or scope.caller.kind,
        created_at=now,
        updated_at=now,
    )
    schedule.next_run_at = _first_window(schedule, now)
    session.add(schedule)
    await _flush_unique(session, body.name)
    _audit(
        session,
        scope,
        "schedule.created",
        schedule,
        {"agent_id": agent.id, "cron": schedule.cron, "timezone": schedule.timezone},
    )
    return schedule


async def get(
    session: AsyncSession, scope: AppScope, schedule_id: str, *, for_update: bool = False
) -> Schedule:
    scope.require("schedules:read")
    if not is_well_formed(schedule_id, "sch"):
        raise schedule_not_found()
    query = select(Schedule).where(
        Schedule.id == schedule_id, Schedule.application_id == scope.application_id
    )
    if scope.end_user_id is not None:
        query = query.where(Schedule.end_user_id == scope.end_user_id)
    if for_update:
        query = query.with_for_update()
    schedule: Schedule | None = await session.scalar(query)
    if schedule is None:
        raise schedule_not_found()
    return schedule


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    agent: str | None,
    enabled: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Schedule], str | None]:
    scope.require("schedules:read")
    query = select(Schedule).where(Schedule.application_id == scope.application_id)
    if scope.end_user_id is not None:
        query = query.where(Schedule.end_user_id == scope.end_user_id)
    if agent is not None:
        found = await agents.find(session, scope, agent)
        query = query.where(Schedule.agent_id == (found.id if found else ""))
    if enabled is not None:
        query = query.where(Schedule.enabled == enabled)
    return await paginate(session, query, Schedule.id, cursor=cursor, limit=limit)


async def update(
    session: AsyncSession, scope: AppScope, schedule_id: str, body: ScheduleUpdate
) -> Schedule:
    scope.require("schedules:write")
    schedule = await get(session, scope, schedule_id, for_update=True)
    sent = body.model_fields_set
    if body.name is not None:
        schedule.name = body.name
    if body.agent is not None:
        schedule.agent_id = (await _agent(session, scope, body.agent)).id
    if "agent_version" in sent:
        schedule.agent_version = body.agent_version
    if body.input is not None:
        schedule.input = body.input
    if {"agent", "agent_version", "input"} & sent:
        agent = await session.get(Agent, schedule.agent_id)
        assert agent is not None
        check_input(await _version(session, agent, schedule.agent_version), schedule.input)
    if body.cron is not None:
        schedule.cron = body.cron
    if body.timezone is not None:
        schedule.timezone = body.timezone
    was_enabled = schedule.enabled
    if body.enabled is not None:
        schedule.enabled = body.enabled
    now = utcnow()
    if {"cron", "timezone"} & sent or schedule.enabled != was_enabled:
        schedule.next_run_at = _first_window(schedule, now)
    schedule.updated_at = now
    await _flush_unique(session, schedule.name)
    action = "schedule.updated"
    if schedule.enabled != was_enabled:
        action = "schedule.enabled" if schedule.enabled else "schedule.disabled"
    _audit(session, scope, action, schedule, {"changed": sorted(sent)})
    return schedule


async def delete(session: AsyncSession, scope: AppScope, schedule_id: str) -> None:
    """Delete the schedule; its runs stay, no longer linked to it."""
    scope.require("schedules:write")
    schedule = await get(session, scope, schedule_id, for_update=True)
    _audit(session, scope, "schedule.deleted", schedule)
    await session.delete(schedule)
