"""The run-creation preflight: a run whose budgets have no headroom left is refused."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import utcnow
from corral.core.errors import Conflict
from corral.governance.budgets.models import Budget
from corral.governance.budgets.usage import Usage, covering, usage_of
from corral.governance.halts.matching import Subject


class BudgetExceeded(Conflict):
    def __init__(self, budget: Budget, usage: Usage) -> None:
        super().__init__(
            f"the budget {budget.name!r} ({budget.id}) has no headroom left in its window: "
            f"{usage.committed} of {budget.limit_value} {budget.metric} used or held, "
            f"until {usage.window.end.isoformat()}",
            code="budget_exceeded",
            extra={"budget_id": budget.id, "window_end": usage.window.end.isoformat()},
        )
        self.budget = budget


async def refuse_without_headroom(
    session: AsyncSession, application_id: str, subject: Subject
) -> None:
    now = utcnow()
    for budget in await covering(session, application_id, subject):
        usage = await usage_of(session, budget, now)
        if usage.committed >= usage.limit:
            raise BudgetExceeded(budget, usage)
