"""A budget's usage step by step: hosted runs' settlements and the monitor's measured spans in
the steps they happened in, adding up to the budget's usage; other budgets' and other
organizations' spend left out."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import FastAPI

from corral.governance.budgets import reservations
from corral.governance.budgets.models import Budget
from corral.governance.budgets.monitor import monitor_pass
from corral.governance.budgets.series import series_of
from corral.governance.budgets.usage import usage_of, usages_of
from corral.governance.halts.matching import Subject
from corral.traces.models import Span
from tests.clients import ApiClient
from tests.traces.support import container_of

# A fixed moment: the windows and steps below do not depend on when the suite runs.
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
DAY = datetime(2026, 12, 2, tzinfo=UTC)


async def _budget(client: ApiClient, **fields: object) -> str:
    body = {"name": "spend", "metric": "spend_usd", "limit": "10", "window": "1d", **fields}
    created = await client.post("/api/budgets", json=body)
    assert created.status_code == 201, created.text
    budget_id: str = created.json()["id"]
    return budget_id


async def _spans(
    app: FastAPI, client: ApiClient, at: datetime, cost: str, *, hosted: bool = False
) -> None:
    async with container_of(app).sessions() as session, session.begin():
        session.add(
            Span(
                org_id=client.org_id,
                application_id=client.app_id,
                trace_id=secrets.token_hex(16),
                span_id=secrets.token_hex(8),
                name="chat",
                kind="client",
                category="llm",
                call_name="llm.gpt-4o",
                start_time=at,
                end_time=at,
                duration_ms=10,
                status="ok",
                agent_name="ops",
                model="gpt-4o",
                cost_usd=Decimal(cost),
                resource_attributes={"corral.run.id": "run_x"} if hosted else {},
            )
        )


async def _settle(app: FastAPI, client: ApiClient, at: datetime, cost: str) -> None:
    sessions = container_of(app).sessions
    held = await reservations.reserve(
        sessions, client.app_id, Subject(agent="ops", model="gpt-4o"), Decimal("0.5"), now=at
    )
    assert held is not None
    await reservations.settle(sessions, held, Decimal(cost), called=True)


async def test_steps_hold_what_happened_in_them_and_add_up_to_the_usage(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    budget_id = await _budget(owner)
    other_id = await _budget(stranger)
    await _settle(app, owner, DAY + timedelta(hours=10, minutes=5), "1.25")
    await _settle(app, owner, DAY + timedelta(hours=10, minutes=55), "0.75")
    await _spans(app, owner, DAY + timedelta(hours=9, minutes=15), "2")
    await _spans(app, owner, DAY + timedelta(hours=13, minutes=40), "0.5")
    # Counted by its settlement, not again from its span.
    await _spans(app, owner, DAY + timedelta(hours=13, minutes=41), "9", hosted=True)
    # Yesterday's, and the other organization's.
    await _spans(app, owner, DAY - timedelta(minutes=1), "7")
    await _spans(app, stranger, DAY + timedelta(hours=11), "3")
    await _settle(app, stranger, DAY + timedelta(hours=11), "4")
    await monitor_pass(container_of(app).sessions, NOW)

    async with container_of(app).sessions() as session:
        budget = await session.get(Budget, budget_id)
        assert budget is not None
        series = await series_of(session, budget, NOW)
        usage = await usage_of(session, budget, NOW)
        other = await session.get(Budget, other_id)
        assert other is not None
        together = await usages_of(session, [budget, other], NOW)

    assert series.step == timedelta(hours=1)
    assert [s.start.hour for s in series.steps] == list(range(24))
    assert series.total == usage.used == Decimal("4.5")
    assert together[budget_id] == usage
    assert together[other_id].used == Decimal(7)
    by_hour = {s.start.hour: (s.hosted, s.measured) for s in series.steps if s.used}
    assert by_hour == {
        9: (Decimal(0), Decimal(2)),
        10: (Decimal(2), Decimal(0)),
        13: (Decimal(0), Decimal("0.5")),
    }


async def test_a_rolling_window_and_a_calls_budget(app: FastAPI, owner: ApiClient) -> None:
    calls_id = await _budget(owner, metric="calls", limit="100", window="7d", window_kind="rolling")
    await _settle(app, owner, NOW - timedelta(days=2, hours=1), "1")
    await _spans(app, owner, NOW - timedelta(days=6), "1")
    await _spans(app, owner, NOW - timedelta(hours=1), "1")
    await _spans(app, owner, NOW - timedelta(days=8), "1")  # before the window
    await monitor_pass(container_of(app).sessions, NOW)
    async with container_of(app).sessions() as session:
        budget = await session.get(Budget, calls_id)
        assert budget is not None
        series = await series_of(session, budget, NOW)
        usage = await usage_of(session, budget, NOW)
    assert series.step == timedelta(days=1)
    assert series.total == usage.used == Decimal(3)
    days = {s.start.date(): s.used for s in series.steps if s.used}
    assert days == {
        (NOW - timedelta(days=6)).date(): Decimal(1),
        (NOW - timedelta(days=2, hours=1)).date(): Decimal(1),
        (NOW - timedelta(hours=1)).date(): Decimal(1),
    }
