"""The budget monitor: one leader-elected pass every few seconds over every enabled budget.

For each budget (in its own transaction, the budget row locked): measure what external
agents spent in the window from ingested spans, add what hosted runs settled, and then
- at the soft threshold, send `budget.threshold_reached` once per window;
- at the limit, send `budget.exceeded` once per window and halt the budget's own scope (an
  agent budget halts that agent, a model budget that model, an end-user budget that
  end-user), marked `source=budget`;
- under the limit (a new window, a raised limit), clear the halt it made.
A pass is idempotent: the fired markers and the open halt are read under the lock, so a second
pass (or a second replica that briefly believes it leads) finds the work done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import as_utc
from corral.core.db import transaction
from corral.core.request_context import Actor
from corral.governance.budgets import span_usage
from corral.governance.budgets.models import Budget
from corral.governance.budgets.reservations import release_expired
from corral.governance.budgets.usage import Usage, usage_of, window_of
from corral.governance.halts import service as halts
from corral.governance.halts.models import Halt
from corral.webhooks import outbox

_log = structlog.get_logger(__name__)

MONITOR_INTERVAL_SECONDS = 5.0
MAX_BUDGETS_PER_PASS = 5000
_ACTOR = Actor.system("budget_monitor")


@dataclass
class MonitorReport:
    evaluated: int = 0
    thresholds: int = 0
    exceeded: int = 0
    halts_created: list[str] = field(default_factory=list)
    halts_cleared: list[str] = field(default_factory=list)
    released: int = 0


def _fired(marker: datetime | None, budget: Budget, start: datetime) -> bool:
    if marker is None:
        return False
    return budget.window_kind == "rolling" or as_utc(marker) == start


def _event_data(budget: Budget, usage: Usage) -> dict[str, object]:
    return {
        "budget": {
            "id": budget.id,
            "name": budget.name,
            "metric": budget.metric,
            "scope": budget.scope,
            "scope_value": budget.scope_value,
            "limit": str(budget.limit_value),
            "threshold_percent": budget.threshold_percent,
        },
        "window_start": usage.window.start.isoformat(),
        "window_end": usage.window.end.isoformat(),
        "used": str(usage.used),
        "percent": round(usage.percent, 2),
    }


async def _evaluate(
    session: AsyncSession, budget: Budget, now: datetime, report: MonitorReport
) -> None:
    window = window_of(budget, now)
    budget.observed = await span_usage.measured(
        session, budget, window.start, now, include_hosted=False
    )
    budget.observed_window_start = window.start
    budget.observed_at = now
    await session.flush()
    usage = await usage_of(session, budget, now)
    report.evaluated += 1
    threshold = budget.threshold_percent
    if threshold is not None and usage.used * 100 >= usage.limit * threshold:
        if not _fired(budget.threshold_fired_window, budget, window.start):
            budget.threshold_fired_window = window.start
            report.thresholds += 1
            # The alert for operators reading logs; the webhook below is the one for machines.
            _log.warning(
                "budget.threshold_reached",
                application_id=budget.application_id,
                budget_id=budget.id,
                used=str(usage.used),
                limit=str(budget.limit_value),
                percent=round(usage.percent, 2),
            )
            await outbox.emit(
                session,
                org_id=budget.org_id,
                application_id=budget.application_id,
                event_type="budget.threshold_reached",
                data=_event_data(budget, usage),
            )
    elif budget.window_kind == "rolling":
        budget.threshold_fired_window = None
    open_halt = await session.scalar(
        select(Halt).where(
            Halt.application_id == budget.application_id,
            Halt.budget_id == budget.id,
            Halt.cleared_at.is_(None),
        )
    )
    if usage.exceeded:
        if not _fired(budget.exceeded_fired_window, budget, window.start):
            budget.exceeded_fired_window = window.start
            report.exceeded += 1
            _log.warning(
                "budget.exceeded",
                application_id=budget.application_id,
                budget_id=budget.id,
                used=str(usage.used),
                limit=str(budget.limit_value),
            )
            await outbox.emit(
                session,
                org_id=budget.org_id,
                application_id=budget.application_id,
                event_type="budget.exceeded",
                data=_event_data(budget, usage),
            )
        if open_halt is None:
            halt = await halts.create_for_budget(
                session,
                org_id=budget.org_id,
                application_id=budget.application_id,
                budget_id=budget.id,
                scope=budget.scope,
                scope_value=budget.scope_value,
                end_user_external_id=budget.end_user_external_id,
                reason=f"budget {budget.name!r} exceeded: {usage.used} of {budget.limit_value} "
                f"{budget.metric} until {window.end.isoformat()}",
            )
            report.halts_created.append(halt.id)
        return
    if budget.window_kind == "rolling":
        budget.exceeded_fired_window = None
    if open_halt is not None:
        await halts.mark_cleared(session, open_halt, _ACTOR, "the budget has headroom again")
        report.halts_cleared.append(open_halt.id)


async def monitor_pass(sessions: async_sessionmaker[AsyncSession], now: datetime) -> MonitorReport:
    """One pass over every enabled budget; `now` is passed in so tests drive the clock."""
    report = MonitorReport()
    report.released = await release_expired(sessions, now)
    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(Budget.id)
                .where(Budget.enabled.is_(True))
                .order_by(Budget.id)
                .limit(MAX_BUDGETS_PER_PASS)
            )
        )
    for budget_id in ids:
        async with transaction(sessions) as session:
            budget = await session.scalar(
                select(Budget).where(Budget.id == budget_id).with_for_update()
            )
            if budget is None or not budget.enabled:
                continue
            await _evaluate(session, budget, now, report)
    return report
