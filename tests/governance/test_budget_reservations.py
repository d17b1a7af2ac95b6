"""Reserve and settle under concurrency: 50 calls at once never take a budget past its limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets import reservations
from corral.governance.budgets.headroom import BudgetExceeded
from corral.governance.budgets.models import Budget
from corral.governance.budgets.usage import usage_of
from corral.governance.halts.matching import Subject
from tests.clients import ApiClient
from tests.traces.support import container_of

ESTIMATE = Decimal("0.03")
ACTUAL = Decimal("0.025")
CALLS = 50


async def create(client: ApiClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/budgets", json={"name": "b", **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _usage(app: FastAPI, budget_id: str) -> Any:
    async with container_of(app).sessions() as session:
        budget = await session.get(Budget, budget_id)
        assert budget is not None
        return await usage_of(session, budget, utcnow())


async def test_concurrent_calls_never_overspend(owner: ApiClient, app: FastAPI) -> None:
    budget = await create(owner, limit="1.00", scope="agent", scope_value="ops")
    sessions = container_of(app).sessions
    provider_hits = 0

    async def call() -> bool:
        nonlocal provider_hits
        try:
            held = await reservations.reserve(
                sessions, owner.app_id, Subject(agent="ops"), ESTIMATE
            )
        except BudgetExceeded:
            return False
        assert held is not None
        provider_hits += 1
        await asyncio.sleep(0)
        await reservations.settle(sessions, held, ACTUAL, called=True)
        return True

    results = await asyncio.gather(*(call() for _ in range(CALLS)))
    allowed = sum(results)
    usage = await _usage(app, budget["id"])
    assert provider_hits == allowed
    assert usage.used == ACTUAL * allowed
    assert usage.used <= Decimal("1.00")
    assert usage.reserved == 0
    # At least as many as fit when every estimate is held at once (33 × 0.03 ≤ 1.00), and
    # never all of them (50 × 0.025 > 1.00).
    assert 33 <= allowed < CALLS


async def test_call_budgets_count_calls_and_unreached_calls_are_released(
    owner: ApiClient, app: FastAPI
) -> None:
    budget = await create(owner, metric="calls", limit="3")
    sessions = container_of(app).sessions
    holds = [
        await reservations.reserve(sessions, owner.app_id, Subject(), Decimal(0)) for _ in range(3)
    ]
    with pytest.raises(BudgetExceeded):
        await reservations.reserve(sessions, owner.app_id, Subject(), Decimal(0))
    first = holds[0]
    assert first is not None
    await reservations.settle(sessions, first, None, called=False)
    usage = await _usage(app, budget["id"])
    assert usage.used == 0
    assert usage.reserved == 2


async def test_expired_reservations_are_released(owner: ApiClient, app: FastAPI) -> None:
    budget = await create(owner, limit="1")
    sessions = container_of(app).sessions
    held = await reservations.reserve(sessions, owner.app_id, Subject(), Decimal("0.9"))
    assert held is not None
    assert (await _usage(app, budget["id"])).reserved == Decimal("0.9")
    assert await reservations.release_expired(sessions, utcnow()) == 0
    later = utcnow() + reservations.RESERVATION_TTL + timedelta(seconds=1)
    assert await reservations.release_expired(sessions, later) == 1
    assert (await _usage(app, budget["id"])).reserved == 0
    # A settle after the sweep counts the real cost only once.
    await reservations.settle(sessions, held, Decimal("0.5"), called=True)
    usage = await _usage(app, budget["id"])
    assert usage.used == Decimal("0.5")
    assert usage.reserved == 0


async def test_a_runs_holds_are_released_when_it_ends(owner: ApiClient, app: FastAPI) -> None:
    budget = await create(owner, limit="1")
    sessions = container_of(app).sessions
    ended = await reservations.reserve(
        sessions, owner.app_id, Subject(run_id="run_ended"), Decimal("0.6")
    )
    other = await reservations.reserve(
        sessions, owner.app_id, Subject(run_id="run_other"), Decimal("0.3")
    )
    assert ended is not None
    assert other is not None
    async with transaction(sessions) as session:
        assert await reservations.release_for_run(session, "run_ended") == 1
        assert await reservations.release_for_run(session, "run_never_held") == 0
    assert (await _usage(app, budget["id"])).reserved == Decimal("0.3")
    # A settle that still arrives counts the real cost once, and the other run is untouched.
    await reservations.settle(sessions, ended, Decimal("0.2"), called=True)
    usage = await _usage(app, budget["id"])
    assert usage.used == Decimal("0.2")
    assert usage.reserved == Decimal("0.3")


async def test_budgets_of_other_scopes_and_applications_do_not_apply(
    owner: ApiClient, app: FastAPI
) -> None:
    await create(owner, limit="0.01", scope="agent", scope_value="ops")
    sessions = container_of(app).sessions
    assert (
        await reservations.reserve(sessions, owner.app_id, Subject(agent="other"), Decimal(5))
        is None
    )
    second = (await owner.post("/api/apps", json={"name": "other"})).json()
    assert (
        await reservations.reserve(sessions, second["id"], Subject(agent="ops"), Decimal(5)) is None
    )
