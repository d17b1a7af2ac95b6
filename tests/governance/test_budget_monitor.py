"""The budget monitor, driven pass by pass with a controlled clock: external agents' spans
measured, webhooks once per window, a halt of the budget's own scope, cleared next window."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.core.clock import utcnow
from corral.governance.budgets import service as budget_service
from corral.governance.budgets.monitor import monitor_pass
from corral.governance.halts.models import Halt
from corral.traces.models import Span
from corral.webhooks.models import WebhookEndpoint, WebhookMessage
from tests.clients import ApiClient
from tests.traces.support import container_of

# In the current hour when the module is imported; tests that read the real clock through the
# API pin it to NOW, since a long suite can cross the hour.
NOW = utcnow().replace(minute=20, second=0, microsecond=0)
MANIFEST = {
    "name": "ops",
    "version": "1.0.0",
    "model": {"provider": "scripted", "turns": [{"output": {}}]},
}


async def add_spans(
    app: FastAPI,
    client: ApiClient,
    *costs: str,
    agent: str = "ops",
    hosted: bool = False,
    at: datetime | None = None,
) -> None:
    started = at or NOW - timedelta(minutes=5)
    async with container_of(app).sessions() as session, session.begin():
        await session.merge(
            WebhookEndpoint(
                id="whk_test",
                org_id=client.org_id,
                application_id=client.app_id,
                url="https://hooks.example.com/",
                event_types=[],
                secret_ciphertext="unused",
            )
        )
        for cost in costs:
            session.add(
                Span(
                    org_id=client.org_id,
                    application_id=client.app_id,
                    trace_id=secrets.token_hex(16),
                    span_id=secrets.token_hex(8),
                    name="chat gpt-4o",
                    kind="client",
                    category="llm",
                    call_name="llm.gpt-4o",
                    start_time=started,
                    end_time=started,
                    duration_ms=10,
                    status="ok",
                    agent_name=agent,
                    model="gpt-4o",
                    cost_usd=Decimal(cost),
                    resource_attributes={"corral.run.id": "run_x"} if hosted else {},
                )
            )


async def events(app: FastAPI) -> list[str]:
    async with container_of(app).sessions() as session:
        return sorted(await session.scalars(select(WebhookMessage.event_type)))


async def budget_halts(app: FastAPI) -> list[Halt]:
    async with container_of(app).sessions() as session:
        return list(await session.scalars(select(Halt).order_by(Halt.created_at)))


async def test_an_agent_budget_halts_that_agent_until_the_window_rolls_over(
    owner: ApiClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await owner.post(
        "/api/budgets",
        json={
            "name": "ops hourly",
            "limit": "1.00",
            "window": "1h",
            "scope": "agent",
            "scope_value": "ops",
            "threshold_percent": 50,
        },
    )
    budget = created.json()
    sessions = container_of(app).sessions
    await add_spans(app, owner, "0.30", "0.30")
    # Another agent's spend and a hosted run's spans are not this budget's (a hosted run is
    # counted by its reservations).
    await add_spans(app, owner, "5", agent="other")
    await add_spans(app, owner, "5", hosted=True)
    report = await monitor_pass(sessions, NOW)
    assert report.thresholds == 1
    assert report.exceeded == 0
    assert await events(app) == ["budget.threshold_reached"]
    await add_spans(app, owner, "0.50")
    report = await monitor_pass(sessions, NOW)
    assert report.exceeded == 1
    [halt] = await budget_halts(app)
    assert (halt.scope, halt.scope_value, halt.source, halt.budget_id) == (
        "agent",
        "ops",
        "budget",
        budget["id"],
    )
    # Idempotent: another pass in the same window sends nothing and halts nothing more.
    again = await monitor_pass(sessions, NOW + timedelta(seconds=5))
    assert again.halts_created == []
    assert again.exceeded == 0
    assert await events(app) == ["budget.exceeded", "budget.threshold_reached", "halt.created"]
    # The agent is halted; the application is not.
    refused = await owner.post(
        "/api/decisions", json={"name": "tool.x", "agent": "ops"}, headers={}
    )
    assert refused.json()["code"] == "halted"
    allowed = await owner.post("/api/decisions", json={"name": "tool.x", "agent": "other"})
    assert allowed.json()["action"] == "allow"
    # The usage API reads the clock: it must be in the monitor's window, not the real one
    # (the suite may have crossed the hour since NOW was taken).
    monkeypatch.setattr(budget_service, "utcnow", lambda: NOW + timedelta(seconds=5))
    usage: dict[str, Any] = (await owner.get(f"/api/budgets/{budget['id']}/usage")).json()
    assert usage["exceeded"] is True
    # The next hour starts empty: the budget clears its own halt.
    report = await monitor_pass(sessions, NOW + timedelta(hours=1))
    assert report.halts_cleared == [halt.id]
    [cleared] = await budget_halts(app)
    assert cleared.cleared_at is not None
    assert (await events(app)).count("halt.cleared") == 1


async def test_an_operator_halt_is_never_cleared_by_a_budget(
    owner: ApiClient, app: FastAPI
) -> None:
    await owner.post("/api/budgets", json={"name": "b", "limit": "1", "window": "1h"})
    manual = await owner.post("/api/halts", json={"scope": "application", "reason": "manual"})
    await monitor_pass(container_of(app).sessions, NOW)
    [halt] = await budget_halts(app)
    assert halt.id == manual.json()["id"]
    assert halt.cleared_at is None


async def test_deleting_a_budget_clears_its_halt(owner: ApiClient, app: FastAPI) -> None:
    budget = (
        await owner.post(
            "/api/budgets",
            json={"name": "b", "limit": "0.1", "window": "1h", "window_kind": "rolling"},
        )
    ).json()
    await add_spans(app, owner, "0.2")
    report = await monitor_pass(container_of(app).sessions, NOW)
    assert len(report.halts_created) == 1
    assert (await owner.delete(f"/api/budgets/{budget['id']}")).status_code == 204
    [halt] = await budget_halts(app)
    assert halt.cleared_at is not None


async def test_forecast_projects_the_burn_rate_to_the_window_end(
    owner: ApiClient, app: FastAPI
) -> None:
    budget = (
        await owner.post("/api/budgets", json={"name": "b", "limit": "100", "window": "month"})
    ).json()
    await add_spans(app, owner, "2.00", "2.00", at=utcnow() - timedelta(minutes=10))
    await monitor_pass(container_of(app).sessions, utcnow())
    response = await owner.get(f"/api/budgets/{budget['id']}/forecast?lookback_seconds=3600")
    forecast = response.json()
    assert Decimal(forecast["used"]) == Decimal(4)
    assert Decimal(forecast["burn_rate_per_hour"]) == Decimal(4)
    hours_left = (datetime.fromisoformat(forecast["window_end"]) - utcnow()).total_seconds() / 3600
    projected = Decimal(forecast["projected_window_end_usage"])
    assert abs(float(projected) - (4 + 4 * hours_left)) < 1
    assert forecast["will_exceed"] is (projected >= 100)
    if forecast["will_exceed"]:
        assert forecast["projected_exhaustion_at"] is not None
