"""Halts API: create, list, clear; checked first by run creation and decisions; tenants apart."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.webhooks.models import WebhookEndpoint, WebhookMessage
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of

MANIFEST = {
    "name": "triage",
    "version": "1.0.0",
    "model": {"provider": "scripted", "turns": [{"output": {}}]},
}


async def halt(client: ApiClient, status: int = 201, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/halts", json={"reason": "incident 42", **body})
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def start_run(client: ApiClient, **changes: Any) -> Any:
    return await client.post(
        "/api/runs",
        json={"inline": {"manifest": MANIFEST, "prompt": "p"}, "input": {}, **changes},
    )


async def subscribe(app: FastAPI, application_id: str, org_id: str) -> None:
    async with container_of(app).sessions() as session, session.begin():
        session.add(
            WebhookEndpoint(
                org_id=org_id,
                application_id=application_id,
                url="https://hooks.example.com/corral",
                event_types=[],
                secret_ciphertext="unused",
            )
        )


async def test_create_list_get_clear(owner: ApiClient, app: FastAPI) -> None:
    await subscribe(app, owner.app_id, owner.org_id)
    created = await halt(owner, scope="agent", scope_value="triage", state="paused")
    assert created["active"]
    assert created["source"] == "operator"
    assert created["scope_value"] == "triage"
    assert created["state"] == "paused"
    listed = (await owner.get("/api/halts")).json()["data"]
    assert [h["id"] for h in listed] == [created["id"]]
    assert (await owner.get(f"/api/halts/{created['id']}")).json()["id"] == created["id"]
    cleared = await owner.post(f"/api/halts/{created['id']}/clear", json={"reason": "fixed"})
    assert cleared.status_code == 200
    assert cleared.json()["active"] is False
    again = await owner.delete(f"/api/halts/{created['id']}")
    assert again.status_code == 409
    assert again.json()["code"] == "halt_already_cleared"
    assert (await owner.get("/api/halts")).json()["data"] == []
    everything = (await owner.get("/api/halts?include_cleared=true")).json()["data"]
    assert [h["id"] for h in everything] == [created["id"]]
    async with container_of(app).sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == created["id"])
            )
        )
        events = list(await session.scalars(select(WebhookMessage.event_type)))
    assert sorted(actions) == ["halt.cleared", "halt.created"]
    assert sorted(events) == ["halt.cleared", "halt.created"]


async def test_scope_values_are_checked(owner: ApiClient) -> None:
    await halt(owner, 422, scope="application", scope_value="x")
    await halt(owner, 422, scope="agent")
    missing = await halt(owner, 404, scope="end_user", scope_value="nobody")
    assert missing["code"] == "end_user_not_found"
    assert (await halt(owner, 404, scope="run", scope_value="run_nope"))["code"] == "run_not_found"
    end_user = (await owner.post("/api/end-users", json={"external_id": "cust-1"})).json()
    by_external = await halt(owner, scope="end_user", scope_value="cust-1")
    assert by_external["scope_value"] == end_user["id"]
    assert by_external["end_user_external_id"] == "cust-1"


async def test_run_creation_is_refused_in_a_halted_scope(owner: ApiClient) -> None:
    other_agent = await halt(owner, scope="agent", scope_value="someone-else")
    assert (await start_run(owner)).status_code == 201
    paused = await halt(owner, scope="agent", scope_value="triage", state="paused")
    refused = await start_run(owner)
    assert refused.status_code == 409
    assert refused.json()["code"] == "halted"
    assert refused.json()["halt_id"] == paused["id"]
    await owner.post(f"/api/halts/{paused['id']}/clear")
    assert (await start_run(owner)).status_code == 201
    await halt(owner, scope="application")
    assert (await start_run(owner)).json()["code"] == "halted"
    assert other_agent["active"]


async def test_end_user_halt_refuses_that_end_users_runs_only(owner: ApiClient) -> None:
    first = (await owner.post("/api/end-users", json={"external_id": "a"})).json()
    second = (await owner.post("/api/end-users", json={"external_id": "b"})).json()
    await halt(owner, scope="end_user", scope_value=first["id"])
    assert (await start_run(owner, end_user=first["id"])).status_code == 409
    assert (await start_run(owner, end_user=second["id"])).status_code == 201


async def test_decisions_answer_a_halt_before_policies(owner: ApiClient) -> None:
    async def decide(**body: Any) -> dict[str, Any]:
        response = await owner.post("/api/decisions", json={"name": "tool.shell", **body})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    assert (await decide(agent="ops"))["action"] == "allow"
    created = await halt(owner, scope="agent", scope_value="ops")
    container_ttl_free = await decide(agent="ops")
    assert container_ttl_free["action"] == "block"
    assert container_ttl_free["code"] == "halted"
    assert container_ttl_free["halt_id"] == created["id"]
    assert container_ttl_free["policy_id"] is None
    # Not policy evidence (no policy decided it): the halt is the record.
    assert container_ttl_free["decision_id"] is None
    assert (await decide(agent="other"))["action"] == "allow"
    await owner.post(f"/api/halts/{created['id']}/clear")
    assert (await decide(agent="ops"))["action"] == "allow"


async def test_active_halts_answer_304_when_unchanged(owner: ApiClient) -> None:
    key = (await owner.create_key(["policies:read"]))["key"]
    headers = {"Authorization": f"Bearer {key}", "X-CSRF-Token": ""}
    first = await owner.get("/api/halts/active", headers=headers)
    assert first.status_code == 200
    assert first.json()["halts"] == []
    etag = first.headers["ETag"]
    same = await owner.get("/api/halts/active", headers={**headers, "If-None-Match": etag})
    assert same.status_code == 304
    await halt(owner, scope="application")
    changed = await owner.get("/api/halts/active", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert [h["scope"] for h in changed.json()["halts"]] == ["application"]


async def test_viewer_reads_member_halts(owner: ApiClient, app: FastAPI) -> None:
    created = await halt(owner, scope="application")
    for role in ("viewer", "member"):
        invitation = (
            await owner.post(
                f"/api/orgs/{owner.org_id}/invitations",
                json={"email": f"{role}@example.com", "role": role},
            )
        ).json()
        async with asgi_client(app) as user:
            await user.register(f"{role}@example.com", invitation_token=invitation["token"])
            assert (await user.get(f"/api/halts/{created['id']}")).status_code == 200
            attempt = await user.post("/api/halts", json={"scope": "application", "reason": "r"})
            assert attempt.status_code == (403 if role == "viewer" else 201)


async def test_another_org_cannot_see_or_clear_a_halt(
    owner: ApiClient, stranger: ApiClient
) -> None:
    created = await halt(owner, scope="application")
    assert (await stranger.get(f"/api/halts/{created['id']}")).status_code == 404
    assert (await stranger.post(f"/api/halts/{created['id']}/clear")).status_code == 404
    assert (await stranger.delete(f"/api/halts/{created['id']}")).status_code == 404
    assert (await stranger.get("/api/halts")).json()["data"] == []
    # Not halted there: the stranger's runs start.
    assert (await start_run(stranger)).status_code == 201


async def test_a_halt_in_one_application_does_not_touch_another(owner: ApiClient) -> None:
    second = (await owner.post("/api/apps", json={"name": "other"})).json()
    await halt(owner, scope="application")
    assert (await start_run(owner)).status_code == 409
    elsewhere = {"Corral-Application": second["id"]}
    response = await owner.post(
        "/api/runs",
        json={"inline": {"manifest": MANIFEST, "prompt": "p"}, "input": {}},
        headers=elsewhere,
    )
    assert response.status_code == 201
    created = (await owner.get("/api/halts")).json()["data"][0]
    assert (await owner.get(f"/api/halts/{created['id']}", headers=elsewhere)).status_code == 404


async def test_a_key_acting_as_an_end_user_halts_only_that_end_user(
    owner: ApiClient, app: FastAPI
) -> None:
    alice = (await owner.post("/api/end-users", json={"external_id": "alice"})).json()
    bob = (await owner.post("/api/end-users", json={"external_id": "bob"})).json()
    bobs = await halt(owner, scope="end_user", scope_value=bob["id"])
    key = await owner.create_key(["halts:read", "halts:write", "budgets:write"])
    async with asgi_client(app, token=key["key"]) as acting:
        acting.headers["Corral-End-User"] = alice["id"]
        refused = await acting.post("/api/halts", json={"scope": "application", "reason": "r"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "impersonation_forbidden"
        own = await acting.post(
            "/api/halts", json={"scope": "end_user", "scope_value": "alice", "reason": "r"}
        )
        assert own.status_code == 201
        assert (await acting.post(f"/api/halts/{bobs['id']}/clear")).status_code == 403
        active = (await acting.get("/api/halts/active")).json()["halts"]
        assert [h["id"] for h in active] == [own.json()["id"]]
        budget = await acting.post("/api/budgets", json={"name": "b", "limit": "1"})
        assert budget.status_code == 403
