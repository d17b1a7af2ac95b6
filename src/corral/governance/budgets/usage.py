"""What a budget has used in its current window, and which budgets cover a call or a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import as_utc
from corral.governance.budgets import windows
from corral.governance.budgets.models import Budget, BudgetBucket
from corral.governance.halts.matching import Subject

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Usage:
    window: windows.Window
    used: Decimal
    reserved: Decimal
    limit: Decimal

    @property
    def committed(self) -> Decimal:
        """Used plus held: what a new reservation must fit beside."""
        return self.used + self.reserved

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.limit - self.committed)

    @property
    def exceeded(self) -> bool:
        return self.used >= self.limit

    @property
    def percent(self) -> float:
        return float(self.used / self.limit * 100) if self.limit else 100.0


def window_of(budget: Budget, now: datetime) -> windows.Window:
    return windows.current(budget.window, budget.window_kind, budget.created_at, now)


def observed_in(budget: Budget, window: windows.Window) -> Decimal:
    """What the monitor measured from spans, if it measured this window."""
    if budget.observed_window_start is None:
        return ZERO
    if budget.window_kind == "fixed" and as_utc(budget.observed_window_start) != window.start:
        return ZERO
    return Decimal(budget.observed or 0)


async def usage_of(session: AsyncSession, budget: Budget, now: datetime) -> Usage:
    window = window_of(budget, now)
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(BudgetBucket.spent), 0),
                func.coalesce(func.sum(BudgetBucket.reserved), 0),
            ).where(
                BudgetBucket.budget_id == budget.id,
                BudgetBucket.bucket_start >= window.start,
                BudgetBucket.bucket_start <= window.bucket,
            )
        )
    ).one()
    spent, reserved = Decimal(row[0]), Decimal(row[1])
    return Usage(window, spent + observed_in(budget, window), reserved, Decimal(budget.limit_value))


def covers(budget: Budget, subject: Subject) -> bool:
    scope, value = budget.scope, budget.scope_value
    if scope == "application":
        return True
    if scope == "agent":
        return subject.agent is not None and subject.agent == value
    if scope == "model":
        return subject.model is not None and subject.model == value
    if scope == "end_user":
        return subject.end_user is not None and subject.end_user in (
            value,
            budget.end_user_external_id,
        )
    return False


async def covering(
    session: AsyncSession, application_id: str, subject: Subject, *, for_update: bool = False
) -> Sequence[Budget]:
    """The application's enabled budgets that cover the subject, in id order (lock order)."""
    query = (
        select(Budget)
        .where(Budget.application_id == application_id, Budget.enabled.is_(True))
        .order_by(Budget.id)
    )
    if for_update:
        query = query.with_for_update()
    return [b for b in await session.scalars(query) if covers(b, subject)]


async def usages_of(
    session: AsyncSession, budgets: Sequence[Budget], now: datetime
) -> dict[str, Usage]:
    """`usage_of` for many budgets in one statement: a sum over each distinct window's range
    (budgets of the same window length and kind share one), joined by UNION ALL."""
    by_window: dict[windows.Window, list[Budget]] = {}
    for budget in budgets:
        by_window.setdefault(window_of(budget, now), []).append(budget)
    if not by_window:
        return {}
    parts = [
        select(
            BudgetBucket.budget_id,
            func.coalesce(func.sum(BudgetBucket.spent), 0),
            func.coalesce(func.sum(BudgetBucket.reserved), 0),
        )
        .where(
            BudgetBucket.budget_id.in_([b.id for b in members]),
            BudgetBucket.bucket_start >= window.start,
            BudgetBucket.bucket_start <= window.bucket,
        )
        .group_by(BudgetBucket.budget_id)
        for window, members in by_window.items()
    ]
    rows = await session.execute(union_all(*parts) if len(parts) > 1 else parts[0])
    sums = {budget_id: (Decimal(spent), Decimal(held)) for budget_id, spent, held in rows}
    found: dict[str, Usage] = {}
    for window, members in by_window.items():
        for budget in members:
            spent, held = sums.get(budget.id, (ZERO, ZERO))
            found[budget.id] = Usage(
                window, spent + observed_in(budget, window), held, Decimal(budget.limit_value)
            )
    return found
