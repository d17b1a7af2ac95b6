"""Spend and model calls measured from ingested spans, within a budget's scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from corral.governance.budgets.models import Budget
from corral.traces.models import Span

# Set on every span of a hosted run (`corral.runs.spans`); those runs are counted by their
# sidecar's reservations, so the monitor leaves their spans out.
HOSTED_RUN_ATTRIBUTE = "corral.run.id"


def _scope_filter(budget: Budget) -> ColumnElement[bool] | None:
    if budget.scope == "agent":
        return Span.agent_name == budget.scope_value
    if budget.scope == "model":
        return Span.model == budget.scope_value
    if budget.scope == "end_user":
        values = [budget.scope_value]
        if budget.end_user_external_id:
            values.append(budget.end_user_external_id)
        return Span.end_user_id.in_(values)
    return None


def _amount(
    budget: Budget, column: InstrumentedAttribute[Decimal | None] | ColumnElement[Any]
) -> ColumnElement[Any]:
    if budget.metric == "spend_usd":
        return func.coalesce(func.sum(column), 0)
    return func.count()


def _in_scope(
    query: Select[Any], budget: Budget, since: datetime, until: datetime, *, include_hosted: bool
) -> Select[Any]:
    """The spans started in the period that count toward the budget."""
    query = query.where(
        Span.application_id == budget.application_id,
        Span.start_time >= since,
        Span.start_time <= until,
    )
    if budget.metric == "calls":
        query = query.where(Span.category == "llm")
    scoped = _scope_filter(budget)
    if scoped is not None:
        query = query.where(scoped)
    if not include_hosted:
        hosted = Span.resource_attributes[HOSTED_RUN_ATTRIBUTE].as_string()
        query = query.where(or_(hosted.is_(None), hosted == ""))
    return query


async def measured(
    session: AsyncSession,
    budget: Budget,
    since: datetime,
    until: datetime,
    *,
    include_hosted: bool,
) -> Decimal:
    """USD (spend budgets) or model calls (calls budgets) of the spans started in the period."""
    query = _in_scope(
        select(_amount(budget, Span.cost_usd)), budget, since, until, include_hosted=include_hosted
    )
    return Decimal(await session.scalar(query) or 0)


def _step_of(dialect: str, first: datetime, step: timedelta) -> ColumnElement[Any]:
    """The number of whole steps from `first` to the span's start, computed once per row (a
    CASE over every edge cost three times the scan itself on SQLite). Half a millisecond
    keeps a span starting exactly on an edge out of the step before, whatever the rounding."""
    seconds = step.total_seconds()
    origin = bindparam("first", first, type_=Span.start_time.type)
    if dialect == "postgresql":
        return func.floor((func.extract("epoch", Span.start_time - origin) + 0.0005) / seconds)
    elapsed = (func.julianday(Span.start_time) - func.julianday(origin)) * 86400
    return cast((elapsed + 0.0005) / seconds, Integer)


async def measured_by_step(
    session: AsyncSession,
    budget: Budget,
    since: datetime,
    until: datetime,
    first: datetime,
    step: timedelta,
    steps: int,
    *,
    include_hosted: bool,
) -> list[Decimal]:
    """What `measured` counts, split by start time into `steps` steps of `step` from `first`:
    a span before `first` counts in the first step, one after the last step in the last.
    One scan of the same rows."""
    dialect = session.get_bind().dialect.name
    # Grouped over a subquery: PostgreSQL refuses GROUP BY an expression whose bound
    # parameters are numbered apart from the selected one's.
    rows = _in_scope(
        select(_step_of(dialect, first, step).label("step"), Span.cost_usd.label("amount")),
        budget,
        since,
        until,
        include_hosted=include_hosted,
    ).subquery()
    amounts = [Decimal(0)] * steps
    grouped = await session.execute(
        select(rows.c.step, _amount(budget, rows.c.amount)).group_by(rows.c.step)
    )
    for index, amount in grouped:
        at = min(steps - 1, max(0, int(index)))
        amounts[at] += Decimal(amount or 0)
    return amounts
