"""Spend and model calls measured from ingested spans, within a budget's scope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def measured(
    session: AsyncSession,
    budget: Budget,
    since: datetime,
    until: datetime,
    *,
    include_hosted: bool,
) -> Decimal:
    """USD (spend budgets) or model calls (calls budgets) of the spans started in the period."""
    amount = (
        func.coalesce(func.sum(Span.cost_usd), 0) if budget.metric == "spend_usd" else func.count()
    )
    query = select(amount).where(
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
    return Decimal(await session.scalar(query) or 0)
