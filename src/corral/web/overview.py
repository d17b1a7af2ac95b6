"""The Overview page's numbers: a few counts over existing tables, each behind its permission.

Read-only and scoped to the viewer's application. Each tile links to where the matching rows
are listed (a dashboard page where one exists, else the API's list endpoint); the spend tile
lists the budgets nearest their limit, each linking to its page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.governance.approvals.models import PENDING, Approval
from corral.governance.budgets.models import Budget
from corral.governance.budgets.usage import usages_of
from corral.governance.halts.models import Halt
from corral.governance.models import DecisionRecord
from corral.identity.access import AppScope
from corral.runs.models import Run
from corral.runs.schemas import RunStatus
from corral.traces.models import Span
from corral.web.control import UsageBar, amount, usage_bar
from corral.webhooks.models import WebhookEndpoint

BLOCKED_WINDOW = timedelta(hours=24)
INGEST_WINDOW = timedelta(hours=1)
# The budgets nearest their limit shown on the Overview; the rest are on /budgets.
BUDGET_ROWS = 5


@dataclass(frozen=True, slots=True)
class Tile:
    label: str
    value: int
    href: str


@dataclass(frozen=True, slots=True)
class BudgetRow:
    name: str
    href: str
    used: str
    limit: str
    percent: float
    bar: UsageBar


@dataclass(frozen=True, slots=True)
class Spend:
    """The enabled budgets nearest their limit (by share used), worst first."""

    rows: list[BudgetRow]
    budgets: int


@dataclass(frozen=True, slots=True)
class Overview:
    runs_today: list[Tile] | None
    blocked: Tile | None
    approvals: Tile | None
    halts: Tile | None
    webhooks: Tile | None
    spend: Spend | None = None
    ingest: Tile | None = None


async def _runs_today(session: AsyncSession, scope: AppScope, day_start: datetime) -> list[Tile]:
    rows = await session.execute(
        select(Run.status, func.count())
        .where(Run.application_id == scope.application_id, Run.created_at >= day_start)
        .group_by(Run.status)
    )
    counts = {status: int(count) for status, count in rows}
    return [
        Tile(status.replace("_", " "), counts.get(status, 0), f"/runs?status={status}")
        for status in get_args(RunStatus)
    ]


async def _blocked(session: AsyncSession, scope: AppScope, now: datetime) -> Tile:
    since = now - BLOCKED_WINDOW
    count = await session.scalar(
        select(func.count())
        .select_from(DecisionRecord)
        .where(
            DecisionRecord.application_id == scope.application_id,
            DecisionRecord.action == "block",
            DecisionRecord.created_at >= since,
        )
    )
    return Tile("blocked calls (24 h)", count or 0, "/decisions?action=block&within=24h")


async def _pending_approvals(session: AsyncSession, scope: AppScope) -> Tile:
    count = await session.scalar(
        select(func.count())
        .select_from(Approval)
        .where(Approval.application_id == scope.application_id, Approval.status == PENDING)
    )
    return Tile("pending approvals", count or 0, "/approvals?status=pending")


async def _active_halts(session: AsyncSession, scope: AppScope) -> Tile:
    count = await session.scalar(
        select(func.count())
        .select_from(Halt)
        .where(Halt.application_id == scope.application_id, Halt.cleared_at.is_(None))
    )
    return Tile("active halts", count or 0, "/halts")


async def _webhooks(session: AsyncSession, scope: AppScope) -> Tile:
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(
            WebhookEndpoint.application_id == scope.application_id,
            WebhookEndpoint.enabled.is_(True),
        )
    )
    return Tile("active webhook endpoints", count or 0, "/webhooks")


async def _spend(session: AsyncSession, scope: AppScope, now: datetime) -> Spend:
    budgets = list(
        await session.scalars(
            select(Budget).where(
                Budget.application_id == scope.application_id, Budget.enabled.is_(True)
            )
        )
    )
    usages = await usages_of(session, budgets, now)
    ranked = sorted(budgets, key=lambda b: (-usages[b.id].percent, b.name))[:BUDGET_ROWS]
    rows = []
    for budget in ranked:
        usage = usages[budget.id]
        rows.append(
            BudgetRow(
                budget.name,
                f"/budgets/{budget.id}",
                amount(usage.used, budget.metric),
                amount(usage.limit, budget.metric),
                round(usage.percent, 1),
                usage_bar(
                    usage.used,
                    usage.reserved,
                    usage.limit,
                    budget.threshold_percent,
                    budget.metric,
                ),
            )
        )
    return Spend(rows, len(budgets))


async def _ingest_rate(session: AsyncSession, scope: AppScope, now: datetime) -> Tile:
    """Spans that started in the last hour, per minute: the `(application_id, start_time)`
    index answers it without reading the spans."""
    count = await session.scalar(
        select(func.count())
        .select_from(Span)
        .where(Span.application_id == scope.application_id, Span.start_time >= now - INGEST_WINDOW)
    )
    per_minute = round((count or 0) / (INGEST_WINDOW.total_seconds() / 60))
    return Tile("spans a minute (last hour)", per_minute, "/traces?window=1h")


async def overview(session: AsyncSession, scope: AppScope, now: datetime) -> Overview:
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    allowed = scope.permissions
    return Overview(
        runs_today=await _runs_today(session, scope, day_start) if "runs:read" in allowed else None,
        blocked=await _blocked(session, scope, now) if "policies:read" in allowed else None,
        approvals=(
            await _pending_approvals(session, scope) if "approvals:read" in allowed else None
        ),
        halts=await _active_halts(session, scope) if "halts:read" in allowed else None,
        webhooks=await _webhooks(session, scope) if "webhooks:read" in allowed else None,
        spend=await _spend(session, scope, now) if "budgets:read" in allowed else None,
        ingest=await _ingest_rate(session, scope, now) if "traces:read" in allowed else None,
    )
