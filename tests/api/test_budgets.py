"""Budgets API: CRUD, usage, forecast, the run-creation preflight; tenants apart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.governance.budgets import reservations
from corral.governance.halts.matching import Subject
from tests.clients import ApiClient
from tests.traces.support import container_of

MANIFEST = {
    "name": "triage",
    "version": "1.0.0",
    "model": {"provider": "scripted", "turns": [{"output": {}}]},
}


async def create(client: ApiClient, status: int = 201, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/budgets", json={"name": "daily", **body})
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_crud_usage_and_forecast(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner, limit="12.50", window="month", threshold_percent=80)
    assert Decimal(created["limit"]) == Decimal("12.50")
    assert created["metric"] == "spend_usd"
    assert created["scope"] == "application"
    budget_id = created["id"]
    assert [b["id"] for b in (await owner.get("/api/budgets")).json()["data"]] == [budget_id]
    changed = await owner.patch(f"/api/budgets/{budget_id}", json={"limit": "20", "name": "m"})
    assert changed.status_code == 200
    assert Decimal(changed.json()["limit"]) == Decimal(20)
    usage = (await owner.get(f"/api/budgets/{budget_id}/usage")).json()
    assert Decimal(usage["used"]) == 0
    assert Decimal(usage["remaining"]) == Decimal(20)
    assert usage["window_start"].endswith("T00:00:00Z")
    assert usage["exceeded"] is False
    held = await reservations.reserve(
        container_of(app).sessions, owner.app_id, Subject(agent="a"), Decimal("2.5")
    )
    assert held is not None
    await reservations.settle(container_of(app).sessions, held, Decimal(2), called=True)
    usage = (await owner.get(f"/api/budgets/{budget_id}/usage")).json()
    assert Decimal(usage["used"]) == Decimal(2)
    assert Decimal(usage["reserved"]) == 0
    assert Decimal(usage["remaining"]) == Decimal(18)
    forecast = await owner.get(f"/api/budgets/{budget_id}/forecast?lookback_seconds=3600")
    assert forecast.status_code == 200, forecast.text
    assert Decimal(forecast.json()["used"]) == Decimal(2)
    assert (await owner.delete(f"/api/budgets/{budget_id}")).status_code == 204
    assert (await owner.get(f"/api/budgets/{budget_id}")).status_code == 404
    async with container_of(app).sessions() as session:
        actions = sorted(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == budget_id)
            )
        )
    assert actions == ["budget.created", "budget.deleted", "budget.updated"]


async def test_bad_budgets_are_refused(owner: ApiClient) -> None:
    await create(owner, 422, scope="agent")
    await create(owner, 422, scope="application", scope_value="x")
    await create(owner, 422, metric="calls", limit="1.5")
    await create(owner, 422, limit="-1")
    await create(owner, 422, window="2d")
    missing = await create(owner, 404, limit="1", scope="end_user", scope_value="nobody")
    assert missing["code"] == "end_user_not_found"


async def test_runs_without_headroom_are_refused(owner: ApiClient, app: FastAPI) -> None:
    body = {"inline": {"manifest": MANIFEST, "prompt": "p"}, "input": {}}
    budget = await create(owner, metric="calls", limit="1", scope="agent", scope_value="triage")
    await create(owner, metric="calls", limit="1", scope="agent", scope_value="other")
    assert (await owner.post("/api/runs", json=body)).status_code == 201
    held = await reservations.reserve(
        container_of(app).sessions, owner.app_id, Subject(agent="triage"), Decimal(0)
    )
    assert held is not None
    refused = await owner.post("/api/runs", json=body)
    assert refused.status_code == 409
    assert refused.json()["code"] == "budget_exceeded"
    assert refused.json()["budget_id"] == budget["id"]
    await owner.patch(f"/api/budgets/{budget['id']}", json={"enabled": False})
    assert (await owner.post("/api/runs", json=body)).status_code == 201


async def test_another_org_cannot_reach_a_budget(owner: ApiClient, stranger: ApiClient) -> None:
    budget = await create(owner, limit="5")
    path = f"/api/budgets/{budget['id']}"
    assert (await stranger.get(path)).status_code == 404
    assert (await stranger.patch(path, json={"limit": "1"})).status_code == 404
    assert (await stranger.delete(path)).status_code == 404
    assert (await stranger.get(f"{path}/usage")).status_code == 404
    assert (await stranger.get(f"{path}/forecast")).status_code == 404
    assert (await stranger.get("/api/budgets")).json()["data"] == []
    second = (await owner.post("/api/apps", json={"name": "other"})).json()
    elsewhere = {"Corral-Application": second["id"]}
    assert (await owner.get(path, headers=elsewhere)).status_code == 404


async def test_viewer_reads_but_cannot_write(owner: ApiClient, app: FastAPI) -> None:
    from tests.clients import asgi_client

    budget = await create(owner, limit="5")
    invitation = (
        await owner.post(
            f"/api/orgs/{owner.org_id}/invitations",
            json={"email": "v@example.com", "role": "viewer"},
        )
    ).json()
    async with asgi_client(app) as viewer:
        await viewer.register("v@example.com", invitation_token=invitation["token"])
        assert (await viewer.get(f"/api/budgets/{budget['id']}/usage")).status_code == 200
        refused = await viewer.post("/api/budgets", json={"name": "x", "limit": "1"})
        assert refused.status_code == 403
