"""Budgets on the sidecar's model calls: reserve the estimate before forwarding, settle after.

A call that would take a covering budget past its limit is refused before it reaches the
provider, with OpenAI's quota answer (429 `insufficient_quota`, code `budget_exceeded`), which
the agent's model client reports as a failed call.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.governance.budgets import reservations
from corral.governance.budgets.estimate import estimate_usd
from corral.governance.budgets.headroom import BudgetExceeded
from corral.governance.budgets.reservations import Reservation
from corral.runs.sidecar.contracts import SidecarRun
from corral.runs.sidecar.model_errors import ModelGatewayError
from corral.runs.sidecar.model_routing import run_subject
from corral.telemetry.cost import ModelPrice, PriceCatalog

_log = structlog.get_logger(__name__)


class BudgetGate:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], catalog: PriceCatalog) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self.refused = 0

    async def reserve(
        self,
        run: SidecarRun,
        model: str,
        body: Mapping[str, Any],
        overrides: Mapping[str, ModelPrice] | None,
    ) -> Reservation | None:
        estimate = estimate_usd(model, body, self._catalog, overrides)
        try:
            return await reservations.reserve(
                self._sessions, run.application_id, run_subject(run), estimate
            )
        except BudgetExceeded as exc:
            self.refused += 1
            raise ModelGatewayError(
                429, exc.detail, kind="insufficient_quota", code="budget_exceeded"
            ) from None

    async def settle(
        self, run: SidecarRun, reservation: Reservation, cost_usd: Decimal | None, *, called: bool
    ) -> None:
        try:
            await reservations.settle(self._sessions, reservation, cost_usd, called=called)
        except Exception:  # noqa: BLE001 — an unsettled hold expires; the call's answer stands
            _log.exception("budget.settle_failed", run_id=run.run_id)
