"""Budgets of the current application: CRUD, the current window's usage, and a forecast."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, status

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS
from corral.container import Container
from corral.core.pagination import Page
from corral.governance.budgets import service
from corral.governance.budgets.models import Budget
from corral.governance.budgets.schemas import (
    BudgetCreate,
    BudgetForecast,
    BudgetRead,
    BudgetUpdate,
    BudgetUsage,
)
from corral.governance.halts.models import Halt

router = APIRouter(tags=["budgets"], responses=ERRORS)

BudgetId = Annotated[str, Path(max_length=64, description="The budget's id (`bgt_…`).")]


def read_budget(budget: Budget) -> BudgetRead:
    return BudgetRead(
        id=budget.id,
        name=budget.name,
        metric=budget.metric,
        limit=budget.limit_value,
        window=budget.window,
        window_kind=budget.window_kind,
        scope=budget.scope,
        scope_value=budget.scope_value,
        end_user_external_id=budget.end_user_external_id,
        threshold_percent=budget.threshold_percent,
        enabled=budget.enabled,
        created_at=budget.created_at,
        updated_at=budget.updated_at,
    )


def _halts_changed(container: Container, application_id: str, cleared: list[Halt]) -> None:
    if cleared:
        container.halt_cache.invalidate(application_id)
        container.run_signals.halts_changed()


@router.get("/api/budgets", response_model=Page[BudgetRead])
async def list_budgets(scope: AppScopeDep, session: SessionDep, page: PageDep) -> Page[BudgetRead]:
    """The application's budgets, newest first."""
    rows, cursor = await service.list_page(session, scope, cursor=page.cursor, limit=page.limit)
    return Page[BudgetRead](data=[read_budget(r) for r in rows], next_cursor=cursor)


@router.post("/api/budgets", status_code=status.HTTP_201_CREATED, response_model=BudgetRead)
async def create_budget(body: BudgetCreate, scope: AppScopeDep, session: SessionDep) -> BudgetRead:
    """A spend (USD) or model-call ceiling over a fixed or rolling window, for the application,
    an agent, a model or an end-user."""
    return read_budget(await service.create(session, scope, body))


@router.get("/api/budgets/{budget_id}", response_model=BudgetRead)
async def get_budget(budget_id: BudgetId, scope: AppScopeDep, session: SessionDep) -> BudgetRead:
    """One budget."""
    return read_budget(await service.get(session, scope, budget_id))


@router.patch("/api/budgets/{budget_id}", response_model=BudgetRead)
async def update_budget(
    budget_id: BudgetId,
    body: BudgetUpdate,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> BudgetRead:
    """Rename, change the limit or threshold, switch on or off (off clears its halts)."""
    budget, cleared = await service.update(session, scope, budget_id, body)
    background.add_task(_halts_changed, container, scope.application_id, cleared)
    return read_budget(budget)


@router.delete("/api/budgets/{budget_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_budget(
    budget_id: BudgetId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> None:
    """Delete the budget; the halts it made are cleared."""
    cleared = await service.delete(session, scope, budget_id)
    background.add_task(_halts_changed, container, scope.application_id, cleared)


@router.get("/api/budgets/{budget_id}/usage", response_model=BudgetUsage)
async def budget_usage(budget_id: BudgetId, scope: AppScopeDep, session: SessionDep) -> BudgetUsage:
    """The current window: used (settled plus measured), held by calls in flight, remaining."""
    budget, usage = await service.usage(session, scope, budget_id)
    return BudgetUsage(
        budget_id=budget.id,
        metric=budget.metric,
        window_start=usage.window.start,
        window_end=usage.window.end,
        limit=usage.limit,
        used=usage.used,
        reserved=usage.reserved,
        remaining=usage.remaining,
        percent=round(usage.percent, 4),
        exceeded=usage.exceeded,
    )


@router.get("/api/budgets/{budget_id}/forecast", response_model=BudgetForecast)
async def budget_forecast(
    budget_id: BudgetId,
    scope: AppScopeDep,
    session: SessionDep,
    lookback_seconds: Annotated[
        int, Query(ge=60, le=30 * 86400, description="The recent period of the burn rate.")
    ] = 3600,
) -> BudgetForecast:
    """Burn rate over the recent period, projected usage at the window's end, and when the
    limit is reached at that rate."""
    found = await service.forecast(
        session, scope, budget_id, lookback=timedelta(seconds=lookback_seconds)
    )
    return BudgetForecast(
        budget_id=found.budget.id,
        metric=found.budget.metric,
        lookback_seconds=lookback_seconds,
        burn_rate_per_hour=found.burn_per_hour,
        used=found.usage.used,
        limit=found.usage.limit,
        window_end=found.usage.window.end,
        projected_window_end_usage=found.projected,
        projected_exhaustion_at=found.exhaustion_at,
        will_exceed=found.projected >= found.usage.limit,
    )
