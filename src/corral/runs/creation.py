"""Creating runs: from the API (installed or inline agents) and from schedules.

A run is validated and passes its gates before anything is written; then it is inserted as
`queued` with its first event, frozen to the manifest and prompt it will execute.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.agents import service as agents
from corral.agents.manifest import Manifest, schema_validator
from corral.agents.models import Agent, AgentVersion
from corral.audit import service as audit
from corral.core.errors import InvalidInput, NotFound, PermissionDenied
from corral.core.request_context import Actor
from corral.core.run_limits import PlatformRunLimits
from corral.governance.budgets import headroom
from corral.governance.halts import service as halts
from corral.governance.halts.matching import Subject
from corral.identity.access import AppScope
from corral.identity.models import EndUser
from corral.runs.events import first_event
from corral.runs.gates import (
    RunGates,
    SandboxLimits,
    check_concurrency,
    check_inline,
    sandbox_limits,
    take_rate,
)
from corral.runs.models import QUEUED, Run, Schedule
from corral.runs.schemas import RunCreate

DRAFT = "draft"
MAX_INPUT_BYTES = 262_144


def check_input(manifest: Manifest, value: dict[str, Any]) -> None:
    """The input against the agent's input schema; every error names where it is."""
    if len(orjson.dumps(value)) > MAX_INPUT_BYTES:
        raise InvalidInput(
            f"the input is above {MAX_INPUT_BYTES} bytes of JSON", code="input_too_large"
        )
    validator = schema_validator(manifest.input_schema)
    errors = [
        {
            "field": "input/" + "/".join(str(p) for p in error.instance_path),
            "message": error.message,
        }
        for error in validator.iter_errors(value)
    ][:20]
    if errors:
        raise InvalidInput(
            f"the input does not match the agent's input schema: {errors[0]['field']}: "
            f"{errors[0]['message']}",
            code="input_invalid",
            extra={"errors": errors},
        )


async def _version(session: AsyncSession, agent: Agent, version: str | None) -> AgentVersion | None:
    """The version to run: the named one, the newest published one, or None for the draft."""
    if version == DRAFT:
        return None
    query = select(AgentVersion).where(AgentVersion.agent_id == agent.id)
    if version is not None:
        record = await session.scalar(query.where(AgentVersion.version == version))
        if record is None:
            raise NotFound("agent version", code="agent_version_not_found")
        return record
    if agent.latest_version is None:
        raise InvalidInput(
            f"agent {agent.name!r} has no published version; publish it or run `draft`",
            code="agent_not_published",
        )
    record = await session.scalar(query.where(AgentVersion.version == agent.latest_version))
    if record is None:
        raise NotFound("agent version", code="agent_version_not_found")
    return record


async def _end_user(session: AsyncSession, scope: AppScope, requested: str | None) -> str | None:
    if scope.end_user_id is not None:
        if requested is not None and requested != scope.end_user_id:
            raise PermissionDenied(
                "acting as an end-user, runs are created for that end-user only",
                code="impersonation_forbidden",
            )
        return scope.end_user_id
    if requested is None:
        return None
    found = await session.scalar(
        select(EndUser.id).where(
            EndUser.id == requested, EndUser.application_id == scope.application_id
        )
    )
    if found is None:
        raise NotFound("end-user", code="end_user_not_found")
    return requested


def new_trace_id() -> str:
    return secrets.token_hex(16)


def _new_run(
    *,
    org_id: str,
    application_id: str,
    agent_id: str | None,
    agent_name: str,
    agent_version: str | None,
    inline: bool,
    manifest: Manifest,
    prompt: str,
    end_user_id: str | None,
    run_input: dict[str, Any],
    timeout: int,
    limits: SandboxLimits,
    created_by: str,
) -> Run:
    return Run(
        org_id=org_id,
        application_id=application_id,
        agent_id=agent_id,
        agent_name=agent_name,
        agent_version=agent_version,
        inline=inline,
        manifest=manifest.model_dump(mode="json"),
        prompt=prompt,
        end_user_id=end_user_id,
        status=QUEUED,
        input=run_input,
        usage={},
        cost_usd=0.0,
        trace_id=new_trace_id(),
        timeout_seconds=timeout,
        limits=limits.as_json(),
        created_by=created_by,
        attempts=0,
        next_event_seq=2,
    )


async def check_governance(
    session: AsyncSession,
    application_id: str,
    *,
    agent_name: str,
    manifest: Manifest,
    end_user_id: str | None,
) -> None:
    """Halts first (409 `halted`), then budget headroom (409 `budget_exceeded`)."""
    subject = Subject(agent=agent_name, end_user=end_user_id, model=manifest.model.name)
    await halts.refuse_if_halted(session, application_id, subject)
    await headroom.refuse_without_headroom(session, application_id, subject)


def _actor_label(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}" if actor.id else actor.kind


async def create_run(
    session: AsyncSession, scope: AppScope, gates: RunGates, body: RunCreate
) -> Run:
    """Validate, gate and queue a run of an installed or inline agent."""
    scope.require("runs:write")
    end_user_id = await _end_user(session, scope, body.end_user)
    agent: Agent | None = None
    version_label: str | None = None
    if body.inline is not None:
        manifest = check_inline(gates.inline, body.inline)
        prompt = body.inline.prompt
    else:
        assert body.agent is not None
        agent = await agents.find(session, scope, body.agent)
        if agent is None:
            raise agents.agent_not_found()
        record = await _version(session, agent, body.version)
        if record is None:
            manifest = Manifest.model_validate(agent.draft_manifest)
            prompt, version_label = agent.draft_prompt, DRAFT
        else:
            manifest = Manifest.model_validate(record.manifest)
            prompt, version_label = record.prompt, record.version
    await check_governance(
        session,
        scope.application_id,
        agent_name=agent.name if agent else manifest.name,
        manifest=manifest,
        end_user_id=end_user_id,
    )
    check_input(manifest, body.input)
    timeout, limits = sandbox_limits(gates.platform, manifest)
    await check_concurrency(session, scope.org_id, gates.platform)
    # Rates are taken last, so a refused request never spends the organization's budget.
    await take_rate(
        gates.org_rate, scope.org_id, code="org_run_rate_exceeded", what="runs for the organization"
    )
    if body.inline is not None:
        await take_rate(
            gates.inline_rate, scope.org_id, code="inline_run_rate_exceeded", what="inline runs"
        )
    run = _new_run(
        org_id=scope.org_id,
        application_id=scope.application_id,
        agent_id=agent.id if agent else None,
        agent_name=agent.name if agent else manifest.name,
        agent_version=version_label,
        inline=body.inline is not None,
        manifest=manifest,
        prompt=prompt,
        end_user_id=end_user_id,
        run_input=body.input,
        timeout=timeout,
        limits=limits,
        created_by=_actor_label(scope.caller.actor),
    )
    session.add(run)
    await session.flush()
    session.add(first_event(run))
    audit.record_in_application(
        session,
        scope,
        "run.created",
        target_type="run",
        target_id=run.id,
        details={"agent": run.agent_name, "version": version_label, "inline": run.inline},
    )
    return run


async def create_scheduled_run(
    session: AsyncSession,
    schedule: Schedule,
    scheduled_for: datetime,
    *,
    limits: PlatformRunLimits | None = None,
) -> Run | None:
    """The run of one schedule window, or None when that window already has its run.

    Scheduled runs pass the same input check and ceilings as API runs; they are not charged to
    the per-minute rates (the schedule itself is the rate), but they count for concurrency.
    """
    agent = await session.get(Agent, schedule.agent_id)
    if agent is None:
        return None
    record = await _version(session, agent, schedule.agent_version)
    if record is None:
        manifest, prompt, label = (
            Manifest.model_validate(agent.draft_manifest),
            agent.draft_prompt,
            DRAFT,
        )
    else:
        manifest, prompt, label = (
            Manifest.model_validate(record.manifest),
            record.prompt,
            record.version,
        )
    await check_governance(
        session,
        schedule.application_id,
        agent_name=agent.name,
        manifest=manifest,
        end_user_id=schedule.end_user_id,
    )
    check_input(manifest, schedule.input)
    platform = limits or PlatformRunLimits()
    timeout, resources = sandbox_limits(platform, manifest)
    await check_concurrency(session, schedule.org_id, platform)
    run = _new_run(
        org_id=schedule.org_id,
        application_id=schedule.application_id,
        agent_id=agent.id,
        agent_name=agent.name,
        agent_version=label,
        inline=False,
        manifest=manifest,
        prompt=prompt,
        end_user_id=schedule.end_user_id,
        run_input=schedule.input,
        timeout=timeout,
        limits=resources,
        created_by=f"schedule:{schedule.id}",
    )
    run.schedule_id = schedule.id
    run.scheduled_for = scheduled_for
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        return None
    session.add(first_event(run))
    audit.record(
        session,
        Actor.system("scheduler"),
        "run.created",
        target_type="run",
        target_id=run.id,
        org_id=run.org_id,
        application_id=run.application_id,
        details={"agent": run.agent_name, "version": label, "schedule_id": schedule.id},
    )
    return run
