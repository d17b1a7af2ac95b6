"""The `approval_expiry` loop: requests of ended runs expire; live runs' requests wait."""

from __future__ import annotations

from fastapi import FastAPI

from corral.core.db import transaction
from corral.governance.approvals import service
from corral.identity.access import run_scope
from corral.telemetry.redact import RedactionSettings, Redactor
from corral_sdk.policy import Action, Decision
from tests.clients import ApiClient
from tests.traces.support import container_of

HOLD = Decision(
    Action.REQUIRE_APPROVAL,
    policy_id="pol_test",
    policy_name="approve",
    action_config={"timeout_seconds": 600},
)


async def queued_run(client: ApiClient) -> str:
    model = {"provider": "scripted", "turns": [{"text": "done"}]}
    manifest = {"name": "helper", "version": "1.0.0", "model": model}
    response = await client.post(
        "/api/runs", json={"inline": {"manifest": manifest, "prompt": "p"}, "input": {}}
    )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def held_by(app: FastAPI, client: ApiClient, run_id: str) -> str:
    scope = run_scope(
        run_id=run_id,
        org_id=client.org_id,
        application_id=client.app_id,
        end_user_id=None,
        permissions=frozenset(),
    )
    call = service.HeldCall("tool.lookup", "lookup", {}, "helper", None, run_id=run_id)
    async with transaction(container_of(app).sessions) as session:
        approval = await service.hold(session, scope, call, HOLD, Redactor(RedactionSettings()))
        return approval.id


async def test_the_requests_of_ended_runs_expire(app: FastAPI, owner: ApiClient) -> None:
    live, ended = await queued_run(owner), await queued_run(owner)
    waiting = await held_by(app, owner, live)
    orphaned = await held_by(app, owner, ended)
    assert (await owner.post(f"/api/runs/{ended}/cancel")).status_code == 200

    await container_of(app).loops.run_once("approval_expiry")

    assert (await owner.get(f"/api/approvals/{orphaned}")).json()["status"] == "expired"
    assert (await owner.get(f"/api/approvals/{waiting}")).json()["status"] == "pending"
