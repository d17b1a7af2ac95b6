"""Budgets of an application: create, read, change, delete; usage and forecast.

Every change writes its audit event in the caller's transaction. Deleting or disabling a budget
clears the halts it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, NotFound, PermissionDenied
from corral.core.ids import is_well_formed, new_id
from corral.core.pagination import paginate
from corral.core.request_context import Actor
from corral.governance.budgets import span_usage
from corral.governance.budgets.models import Budget
from corral.governance.budgets.schemas import BudgetCreate, BudgetUpdate
from corral.governance.budgets.usage import ZERO, Usage, usage_of
from corral.governance.halts import service as halts
from corral.governance.halts.models import Halt
from corral.identity.access import AppScope

MAX_BUDGETS = 200
DEFAULT_LOOKBACK = timedelta(hours=1)


def budget_not_found() -> NotFound:
    return NotFound("budget", code="budget_not_found")


def _audit(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    budget: Budget,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="budget",
        target_id=budget.id,
        details={"name": budget.name, **(details or {})},
    )


def _not_impersonating(scope: AppScope) -> None:
    if scope.end_user_id is not None:
        raise PermissionDenied(
            "budgets are the application's; a key acting as an end-user cannot change them",
            code="impersonation_forbidden",
        )


async def create(session: AsyncSession, scope: AppScope, body: BudgetCreate) -> Budget:
    scope.require("budgets:write")
    _not_impersonating(scope)
    count = len(
        (
            await session.scalars(
                select(Budget.id)
                .where(Budget.application_id == scope.application_id)
                .limit(MAX_BUDGETS)
            )
        ).all()
    )
    if count >= MAX_BUDGETS:
        raise Conflict(f"an application has at most {MAX_BUDGETS} budgets", code="too_many_budgets")
    value, external = "", None
    if body.scope == "end_user" and body.scope_value is not None:
        end_user = await halts.find_end_user(session, scope.application_id, body.scope_value)
        value, external = end_user.id, end_user.external_id
    elif body.scope_value is not None:
        value = body.scope_value
    now = utcnow()
    budget = Budget(
        id=new_id("bgt"),
        org_id=scope.org_id,
        application_id=scope.application_id,
        name=body.name,
        metric=body.metric,
        limit_value=body.limit,
        window=body.window,
        window_kind=body.window_kind,
        scope=body.scope,
        scope_value=value,
        end_user_external_id=external,
        threshold_percent=body.threshold_percent,
        enabled=body.enabled,
        observed=ZERO,
        created_at=now,
        updated_at=now,
    )
    session.add(budget)
    await session.flush()
    _audit(
        session,
        scope,
        "budget.created",
        budget,
        {"metric": budget.metric, "limit": str(body.limit), "scope": budget.scope},
    )
    return budget


async def get(
    session: AsyncSession, scope: AppScope, budget_id: str, *, for_update: bool = False
) -> Budget:
    scope.require("budgets:read")
    if not is_well_formed(budget_id, "bgt"):
        raise budget_not_found()
    query = select(Budget).where(
        Budget.id == budget_id, Budget.application_id == scope.application_id
    )
    if for_update:
        query = query.with_for_update()
    budget: Budget | None = await session.scalar(query)
    if budget is None:
        raise budget_not_found()
    return budget


async def list_page(
    session: AsyncSession, scope: AppScope, *, cursor: str | None, limit: int
) -> tuple[Sequence[Budget], str | None]:
    scope.require("budgets:read")
    query = select(Budget).where(Budget.application_id == scope.application_id)
    return await paginate(session, query, Budget.id, cursor=cursor, limit=limit)


async def clear_budget_halts(
    session: AsyncSession, budget: Budget, actor: Actor, why: str
) -> list[Halt]:
    rows = list(
        await session.scalars(
            select(Halt).where(
                Halt.application_id == budget.application_id,
                Halt.budget_id == budget.id,
                Halt.cleared_at.is_(None),
            )
        )
    )
    for halt in rows:
        await halts.mark_cleared(session, halt, actor, why)
    return rows


async def update(
    session: AsyncSession, scope: AppScope, budget_id: str, body: BudgetUpdate
) -> tuple[Budget, list[Halt]]:
    scope.require("budgets:write")
    _not_impersonating(scope)
    budget = await get(session, scope, budget_id, for_update=True)
    changed = sorted(body.model_fields_set)
    if body.name is not None:
        budget.name = body.name
    if body.limit is not None:
        if budget.metric == "calls" and body.limit != body.limit.to_integral_value():
            raise Conflict("a calls budget's limit is a whole number", code="invalid_limit")
        budget.limit_value = body.limit
    if "threshold_percent" in body.model_fields_set:
        budget.threshold_percent = body.threshold_percent
    if body.enabled is not None:
        budget.enabled = body.enabled
    budget.updated_at = utcnow()
    cleared: list[Halt] = []
    if not budget.enabled:
        cleared = await clear_budget_halts(
            session, budget, scope.caller.actor, "the budget was disabled"
        )
    _audit(session, scope, "budget.updated", budget, {"changed": changed})
    return budget, cleared


async def delete(session: AsyncSession, scope: AppScope, budget_id: str) -> list[Halt]:
    scope.require("budgets:write")
    _not_impersonating(scope)
    budget = await get(session, scope, budget_id, for_update=True)
    cleared = await clear_budget_halts(
        session, budget, scope.caller.actor, "the budget was deleted"
    )
    _audit(session, scope, "budget.deleted", budget)
    await session.delete(budget)
    return cleared


async def usage(session: AsyncSession, scope: AppScope, budget_id: str) -> tuple[Budget, Usage]:
    budget = await get(session, scope, budget_id)
    return budget, await usage_of(session, budget, utcnow())


@dataclass(frozen=True, slots=True)
class Forecast:
    budget: Budget
    usage: Usage
    lookback: timedelta
    burn_per_hour: Decimal
    projected: Decimal
    exhaustion_at: datetime | None


async def forecast(
    session: AsyncSession,
    scope: AppScope,
    budget_id: str,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    now: datetime | None = None,
) -> Forecast:
    """The burn rate over the recent `lookback` (every span in scope, hosted runs included),
    and where it leads by the end of the window."""
    budget = await get(session, scope, budget_id)
    moment = now or utcnow()
    current = await usage_of(session, budget, moment)
    recent = await span_usage.measured(
        session, budget, moment - lookback, moment, include_hosted=True
    )
    hours = Decimal(lookback.total_seconds()) / Decimal(3600)
    burn = recent / hours
    left_hours = Decimal(max(0.0, (current.window.end - moment).total_seconds())) / Decimal(3600)
    projected = current.used + burn * left_hours
    exhaustion: datetime | None = None
    if current.used >= current.limit:
        exhaustion = moment
    elif burn > 0:
        to_go = (current.limit - current.used) / burn
        at = moment + timedelta(hours=float(to_go))
        if at <= current.window.end:
            exhaustion = at
    return Forecast(budget, current, lookback, burn, projected, exhaustion)
