"""Budgets: usage against each limit, a budget's usage over its window and forecast, create,
edit and delete."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import BackgroundTasks, Form, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.container import Container
from corral.core.clock import utcnow
from corral.core.errors import CorralError
from corral.governance.budgets import service
from corral.governance.budgets.models import Budget
from corral.governance.budgets.schemas import (
    BudgetCreate,
    BudgetMetric,
    BudgetScope,
    BudgetUpdate,
    BudgetWindow,
    WindowKind,
)
from corral.governance.budgets.series import series_of
from corral.governance.budgets.usage import Usage, usage_of
from corral.governance.halts.models import Halt
from corral.web.control import (
    PAGE_SIZE,
    amount,
    attempt,
    scope_of,
    show_refusal,
    usage_bar,
    validation_message,
    when,
)
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.spend_chart import spend_chart
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

BUDGETS_PATH = "/budgets"
BudgetId = Annotated[str, Path(max_length=64)]
Field = Annotated[str, Form(max_length=255)]
_NEW = {
    "name": "",
    "metric": "spend_usd",
    "limit": "",
    "window": "1d",
    "window_kind": "fixed",
    "scope": "application",
    "scope_value": "",
    "threshold_percent": "80",
    "enabled": "on",
}


def _summary(budget: Budget, usage: Usage) -> dict[str, Any]:
    return {
        "budget": budget,
        "scope_label": budget.scope.replace("_", " "),
        "value": budget.end_user_external_id or budget.scope_value,
        "limit": amount(usage.limit, budget.metric),
        "used": amount(usage.used, budget.metric),
        "remaining": amount(usage.remaining, budget.metric),
        "window_start": when(usage.window.start),
        "window_end": when(usage.window.end),
        "bar": usage_bar(
            usage.used, usage.reserved, usage.limit, budget.threshold_percent, budget.metric
        ),
    }


def _halts_changed(container: Container, application_id: str, cleared: list[Halt]) -> None:
    if cleared:
        container.halt_cache.invalidate(application_id)
        container.run_signals.halts_changed()


def _choices() -> dict[str, Any]:
    return {
        "metrics": get_args(BudgetMetric),
        "windows": get_args(BudgetWindow),
        "window_kinds": get_args(WindowKind),
        "scopes": get_args(BudgetScope),
    }


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    cursor: str | None = None,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    rows, next_cursor = await service.list_page(
        session, scope_of(viewer), cursor=cursor, limit=PAGE_SIZE
    )
    now = utcnow()
    budgets = [_summary(budget, await usage_of(session, budget, now)) for budget in rows]
    context = page_context(
        request,
        viewer,
        title="Budgets",
        budgets=budgets,
        next_cursor=next_cursor,
        typed=typed or _NEW,
        **_choices(),
    )
    context["error"] = error
    return pages.render("budgets.html", context, status_code=status_code)


@router.get(BUDGETS_PATH)
async def budgets_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return await _list_page(request, viewer, session, pages, cursor=cursor)


@router.post(BUDGETS_PATH)
async def create_budget(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Field = "",
    metric: Field = "spend_usd",
    limit: Field = "",
    window: Field = "1d",
    window_kind: Field = "fixed",
    scope: Field = "application",
    scope_value: Field = "",
    threshold_percent: Field = "",
    enabled: Field = "",
) -> Response:
    app_scope = scope_of(viewer)
    app_scope.require("budgets:write")
    typed = {
        "name": name,
        "metric": metric,
        "limit": limit,
        "window": window,
        "window_kind": window_kind,
        "scope": scope,
        "scope_value": scope_value,
        "threshold_percent": threshold_percent,
        "enabled": enabled,
    }
    try:
        body = BudgetCreate.model_validate(
            {
                "name": name.strip(),
                "metric": metric,
                "limit": limit.strip(),
                "window": window,
                "window_kind": window_kind,
                "scope": scope,
                "scope_value": (scope_value.strip() or None) if scope != "application" else None,
                "threshold_percent": threshold_percent.strip() or None,
                "enabled": bool(enabled),
            }
        )
    except ValidationError as exc:
        return await _list_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    created = await attempt(session, service.create(session, app_scope, body))
    if isinstance(created, CorralError):
        return await show_refusal(
            container,
            session,
            created,
            lambda fresh, code, message: _list_page(
                request, viewer, fresh, pages, status_code=code, error=message, typed=typed
            ),
        )
    return after_post(request, f"{BUDGETS_PATH}/{created.id}")


async def _detail_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    budget_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    now = utcnow()
    found = await service.forecast(session, scope_of(viewer), budget_id, now=now)
    budget = found.budget
    metric = budget.metric
    context = page_context(
        request,
        viewer,
        title=f"Budget {budget.name}",
        b=_summary(budget, found.usage),
        forecast={
            "burn_per_hour": amount(found.burn_per_hour, metric),
            "lookback_minutes": int(found.lookback.total_seconds() // 60),
            "projected": amount(found.projected, metric),
            "will_exceed": found.projected >= found.usage.limit,
            "exhaustion_at": when(found.exhaustion_at),
        },
        typed=typed
        or {
            "name": budget.name,
            "limit": f"{budget.limit_value.normalize():f}",
            "threshold_percent": str(budget.threshold_percent or ""),
            "enabled": "on" if budget.enabled else "",
        },
        created=when(budget.created_at),
        updated=when(budget.updated_at),
    )
    context["error"] = error
    return pages.render("budget.html", context, status_code=status_code)


@router.get(BUDGETS_PATH + "/{budget_id}")
async def budget_page(
    request: Request, budget_id: BudgetId, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _detail_page(request, viewer, session, pages, budget_id)


@router.get(BUDGETS_PATH + "/{budget_id}/chart")
async def budget_chart(
    request: Request, budget_id: BudgetId, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    """The usage over the window, apart from the budget's page so that page's time never
    depends on how many spans the window holds: htmx swaps it in after the page, a plain GET
    (no scripts) gets it as a page of its own."""
    budget = await service.get(session, scope_of(viewer), budget_id)
    now = utcnow()
    series = await series_of(session, budget, now)
    context = page_context(
        request,
        viewer,
        title=f"Budget {budget.name}: usage over this window",
        budget=budget,
        window_start=when(series.usage.window.start),
        window_end=when(series.usage.window.end),
        chart=spend_chart(series, budget.threshold_percent, budget.metric, now),
    )
    if request.headers.get("HX-Request") == "true":
        return pages.render("_spend_chart.html", context)
    return pages.render("budget_chart.html", context)


@router.post(BUDGETS_PATH + "/{budget_id}")
async def update_budget(
    request: Request,
    budget_id: BudgetId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    background: BackgroundTasks,
    name: Field = "",
    limit: Field = "",
    threshold_percent: Field = "",
    enabled: Field = "",
) -> Response:
    app_scope = scope_of(viewer)
    app_scope.require("budgets:write")
    typed = {
        "name": name,
        "limit": limit,
        "threshold_percent": threshold_percent,
        "enabled": enabled,
    }
    try:
        body = BudgetUpdate.model_validate(
            {
                "name": name.strip(),
                "limit": limit.strip(),
                "threshold_percent": threshold_percent.strip() or None,
                "enabled": bool(enabled),
            }
        )
    except ValidationError as exc:
        return await _detail_page(
            request,
            viewer,
            session,
            pages,
            budget_id,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    updated = await attempt(session, service.update(session, app_scope, budget_id, body))
    if isinstance(updated, CorralError):
        return await show_refusal(
            container,
            session,
            updated,
            lambda fresh, code, message: _detail_page(
                request,
                viewer,
                fresh,
                pages,
                budget_id,
                status_code=code,
                error=message,
                typed=typed,
            ),
        )
    _, cleared = updated
    background.add_task(_halts_changed, container, app_scope.application_id, cleared)
    return after_post(request, f"{BUDGETS_PATH}/{budget_id}")


@router.post(BUDGETS_PATH + "/{budget_id}/delete")
async def delete_budget(
    request: Request,
    budget_id: BudgetId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> Response:
    app_scope = scope_of(viewer)
    cleared = await service.delete(session, app_scope, budget_id)
    background.add_task(_halts_changed, container, app_scope.application_id, cleared)
    return after_post(request, BUDGETS_PATH)
