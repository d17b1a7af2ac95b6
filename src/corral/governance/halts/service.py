"""Halts of an application: create, read, clear, and the checks every surface makes first.

Creating or clearing a halt writes its audit event and queues its webhook (`halt.created`,
`halt.cleared`) in the caller's transaction. A budget's halts are made and cleared by the
budget monitor (`source=budget`); operators may clear them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, NotFound, PermissionDenied
from corral.core.ids import is_well_formed
from corral.core.pagination import paginate
from corral.core.request_context import Actor
from corral.governance.halts.matching import HALTED, ActiveHalt, Subject, first_covering
from corral.governance.halts.models import Halt
from corral.governance.halts.schemas import HaltCreate
from corral.identity.access import AppScope
from corral.identity.models import EndUser
from corral.runs.models import Run
from corral.webhooks import outbox

MAX_ACTIVE_HALTS = 500


def halt_not_found() -> NotFound:
    return NotFound("halt", code="halt_not_found")


class HaltedError(Conflict):
    """New work refused because a halt covers it."""

    def __init__(self, halt: ActiveHalt) -> None:
        super().__init__(
            halt.describe,
            code="halted",
            extra={"halt_id": halt.id, "scope": halt.scope, "state": halt.state},
        )
        self.halt = halt


def as_data(halt: Halt) -> dict[str, Any]:
    return {
        "id": halt.id,
        "scope": halt.scope,
        "scope_value": halt.scope_value,
        "state": halt.state,
        "reason": halt.reason,
        "source": halt.source,
        "budget_id": halt.budget_id,
        "created_at": halt.created_at.isoformat(),
        "cleared_at": halt.cleared_at.isoformat() if halt.cleared_at else None,
    }


def _label(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}" if actor.id else actor.kind


async def find_end_user(session: AsyncSession, application_id: str, reference: str) -> EndUser:
    """The end-user by id or by external id, within the application."""
    query = select(EndUser).where(EndUser.application_id == application_id)
    if is_well_formed(reference, "eu"):
        found = await session.scalar(query.where(EndUser.id == reference))
        if found is not None:
            return found
    found = await session.scalar(query.where(EndUser.external_id == reference))
    if found is None:
        raise NotFound("end-user", code="end_user_not_found")
    return found


async def _scope_value(
    session: AsyncSession, scope: AppScope, kind: str, value: str | None
) -> tuple[str, str | None]:
    if kind == "application" or value is None:
        return "", None
    if kind == "end_user":
        end_user = await find_end_user(session, scope.application_id, value)
        return end_user.id, end_user.external_id
    if kind == "run":
        run = (
            await session.scalar(
                select(Run.id).where(Run.id == value, Run.application_id == scope.application_id)
            )
            if is_well_formed(value, "run")
            else None
        )
        if run is None:
            raise NotFound("run", code="run_not_found")
    return value, None


async def _add(
    session: AsyncSession,
    *,
    org_id: str,
    application_id: str,
    actor: Actor,
    scope: str,
    scope_value: str,
    end_user_external_id: str | None,
    state: str,
    reason: str,
    budget_id: str | None = None,
) -> Halt:
    active = await session.scalar(
        select(Halt.id)
        .where(Halt.application_id == application_id, Halt.cleared_at.is_(None))
        .offset(MAX_ACTIVE_HALTS - 1)
        .limit(1)
    )
    if active is not None:
        raise Conflict(
            f"an application has at most {MAX_ACTIVE_HALTS} active halts",
            code="too_many_halts",
        )
    halt = Halt(
        org_id=org_id,
        application_id=application_id,
        scope=scope,
        scope_value=scope_value,
        end_user_external_id=end_user_external_id,
        state=state,
        reason=reason,
        source="budget" if budget_id else "operator",
        budget_id=budget_id,
        created_by=f"budget:{budget_id}" if budget_id else _label(actor),
        created_at=utcnow(),
    )
    session.add(halt)
    await session.flush()
    audit.record(
        session,
        actor,
        "halt.created",
        target_type="halt",
        target_id=halt.id,
        org_id=org_id,
        application_id=application_id,
        details={"scope": scope, "scope_value": scope_value, "state": state, "reason": reason},
    )
    await outbox.emit(
        session,
        org_id=org_id,
        application_id=application_id,
        event_type="halt.created",
        data={"halt": as_data(halt)},
    )
    return halt


async def create(session: AsyncSession, scope: AppScope, body: HaltCreate) -> Halt:
    scope.require("halts:write")
    value, external = await _scope_value(session, scope, body.scope, body.scope_value)
    if scope.end_user_id is not None and (body.scope != "end_user" or value != scope.end_user_id):
        raise PermissionDenied(
            "acting as an end-user, only that end-user can be halted",
            code="impersonation_forbidden",
        )
    return await _add(
        session,
        org_id=scope.org_id,
        application_id=scope.application_id,
        actor=scope.caller.actor,
        scope=body.scope,
        scope_value=value,
        end_user_external_id=external,
        state=body.state,
        reason=body.reason,
    )


async def create_for_budget(
    session: AsyncSession,
    *,
    org_id: str,
    application_id: str,
    budget_id: str,
    scope: str,
    scope_value: str,
    end_user_external_id: str | None,
    reason: str,
) -> Halt:
    return await _add(
        session,
        org_id=org_id,
        application_id=application_id,
        actor=Actor.system("budget_monitor"),
        scope=scope,
        scope_value=scope_value,
        end_user_external_id=end_user_external_id,
        state=HALTED,
        reason=reason,
        budget_id=budget_id,
    )


async def get(
    session: AsyncSession, scope: AppScope, halt_id: str, *, for_update: bool = False
) -> Halt:
    scope.require("halts:read")
    if not is_well_formed(halt_id, "hlt"):
        raise halt_not_found()
    query = select(Halt).where(Halt.id == halt_id, Halt.application_id == scope.application_id)
    if for_update:
        query = query.with_for_update()
    halt: Halt | None = await session.scalar(query)
    if halt is None:
        raise halt_not_found()
    return halt


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    include_cleared: bool,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Halt], str | None]:
    scope.require("halts:read")
    query = select(Halt).where(Halt.application_id == scope.application_id)
    if not include_cleared:
        query = query.where(Halt.cleared_at.is_(None))
    return await paginate(session, query, Halt.id, cursor=cursor, limit=limit)


async def mark_cleared(session: AsyncSession, halt: Halt, actor: Actor, why: str | None) -> None:
    halt.cleared_at = utcnow()
    halt.cleared_by = _label(actor)
    audit.record(
        session,
        actor,
        "halt.cleared",
        target_type="halt",
        target_id=halt.id,
        org_id=halt.org_id,
        application_id=halt.application_id,
        details={"scope": halt.scope, "scope_value": halt.scope_value, "reason": why},
    )
    await outbox.emit(
        session,
        org_id=halt.org_id,
        application_id=halt.application_id,
        event_type="halt.cleared",
        data={"halt": as_data(halt), "reason": why},
    )


async def clear(
    session: AsyncSession, scope: AppScope, halt_id: str, why: str | None = None
) -> Halt:
    scope.require("halts:write")
    halt = await get(session, scope, halt_id, for_update=True)
    if scope.end_user_id is not None and (
        halt.scope != "end_user" or halt.scope_value != scope.end_user_id
    ):
        raise PermissionDenied(
            "acting as an end-user, only that end-user's halts can be cleared",
            code="impersonation_forbidden",
        )
    if halt.cleared_at is not None:
        raise Conflict("the halt is already cleared", code="halt_already_cleared")
    await mark_cleared(session, halt, scope.caller.actor, why)
    return halt


async def active(session: AsyncSession, application_id: str) -> list[ActiveHalt]:
    """The application's active halts (one indexed query)."""
    rows = await session.scalars(
        select(Halt)
        .where(Halt.application_id == application_id, Halt.cleared_at.is_(None))
        .order_by(Halt.id)
        .limit(MAX_ACTIVE_HALTS)
    )
    return [ActiveHalt.of(row) for row in rows]


async def refuse_if_halted(session: AsyncSession, application_id: str, subject: Subject) -> None:
    """Raise `HaltedError` when an active halt (halted or paused) covers new work."""
    halt = first_covering(await active(session, application_id), subject)
    if halt is not None:
        raise HaltedError(halt)


async def halted_runs(
    session: AsyncSession, runs: Sequence[tuple[str, str, Subject]]
) -> dict[str, ActiveHalt]:
    """Of these running runs (id, application id, subject), those a `halted` halt covers."""
    if not runs:
        return {}
    applications = sorted({application_id for _, application_id, _ in runs})
    rows = await session.scalars(
        select(Halt).where(
            Halt.application_id.in_(applications),
            Halt.cleared_at.is_(None),
            Halt.state == HALTED,
        )
    )
    by_application: dict[str, list[ActiveHalt]] = {}
    for row in rows:
        by_application.setdefault(row.application_id, []).append(ActiveHalt.of(row))
    stopped: dict[str, ActiveHalt] = {}
    for run_id, application_id, subject in runs:
        halt = first_covering(by_application.get(application_id, ()), subject)
        if halt is not None:
            stopped[run_id] = halt
    return stopped


async def active_for(session: AsyncSession, scope: AppScope) -> list[ActiveHalt]:
    """The active halts an SDK enforces. A key that may download the policy bundle may read
    them too, so an SDK's minimal key never misses the kill switch."""
    if "policies:read" not in scope.permissions:
        scope.require("halts:read")
    halts = await active(session, scope.application_id)
    if scope.end_user_id is not None:
        # A key acting as an end-user sees the halts that concern it, not other end-users'.
        halts = [h for h in halts if h.scope != "end_user" or h.scope_value == scope.end_user_id]
    return halts
