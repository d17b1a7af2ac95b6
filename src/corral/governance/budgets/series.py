"""A budget's usage in its current window, step by step, computed on read from what its usage is
made of: the buckets hosted runs settled into, and the spans the monitor measured.

The steps are `windows.STEP` (five minutes for an hour, an hour for a day, a day for longer).
The spans part covers exactly the period of the monitor's last measurement (from the window it
measured to `observed_at`), so the steps add up to the usage the budget shows; a span ingested
since then with an earlier start time is counted here and not yet there. A rolling window's
buckets (1/60 of its length) count in the step their start falls in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import as_utc
from corral.governance.budgets import span_usage, windows
from corral.governance.budgets.models import Budget, BudgetBucket
from corral.governance.budgets.usage import ZERO, Usage, observed_in, usage_of


@dataclass(frozen=True, slots=True)
class Step:
    start: datetime
    end: datetime
    # Settled by hosted runs' sidecars (their reservations' real amounts).
    hosted: Decimal
    # Measured from external agents' spans.
    measured: Decimal

    @property
    def used(self) -> Decimal:
        return self.hosted + self.measured


@dataclass(frozen=True, slots=True)
class UsageSeries:
    usage: Usage
    step: timedelta
    steps: tuple[Step, ...]

    @property
    def total(self) -> Decimal:
        return sum((s.used for s in self.steps), ZERO)


def _edges(window: windows.Window, step: timedelta) -> list[datetime]:
    first = windows.floor(window.start, step)
    edges = [first]
    while edges[-1] + step < window.end:
        edges.append(edges[-1] + step)
    return edges


def _index(edges: list[datetime], moment: datetime, step: timedelta) -> int:
    return min(len(edges) - 1, max(0, int((as_utc(moment) - edges[0]) // step)))


async def series_of(session: AsyncSession, budget: Budget, now: datetime) -> UsageSeries:
    usage = await usage_of(session, budget, now)
    window = usage.window
    step = windows.STEP[budget.window]
    edges = _edges(window, step)
    hosted = [ZERO] * len(edges)
    buckets = await session.execute(
        select(BudgetBucket.bucket_start, BudgetBucket.spent).where(
            BudgetBucket.budget_id == budget.id,
            BudgetBucket.bucket_start >= window.start,
            BudgetBucket.bucket_start <= window.bucket,
        )
    )
    for bucket_start, spent in buckets:
        hosted[_index(edges, bucket_start, step)] += Decimal(spent)
    measured = [ZERO] * len(edges)
    if observed_in(budget, window) and budget.observed_window_start and budget.observed_at:
        measured = await span_usage.measured_by_step(
            session,
            budget,
            as_utc(budget.observed_window_start),
            as_utc(budget.observed_at),
            edges[0],
            step,
            len(edges),
            include_hosted=False,
        )
    return UsageSeries(
        usage,
        step,
        tuple(Step(start, start + step, hosted[i], measured[i]) for i, start in enumerate(edges)),
    )
