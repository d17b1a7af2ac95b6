"""Approvals over HTTP: request, N-of-M distinct people, veto, self-approval, keys never
decide, expiry at decision time and by the loop, tenants, and the long-poll."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.core.clock import utcnow
from corral.governance.approvals import decide as decide_module
from corral.governance.approvals import service as service_module
from tests.api.approvals_support import (
    approval_policy,
    member,
    request_approval,
    subscribe_webhooks,
    webhook_events,
)
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of


async def sdk_client(app: FastAPI, owner: ApiClient, *scopes: str) -> Any:
    key = await owner.create_key(list(scopes or ["decisions:write"]))
    return asgi_client(app, token=key["key"])


async def audit_actions(app: FastAPI, target_id: str) -> list[str]:
    async with container_of(app).sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target_id == target_id)
            .order_by(AuditEvent.id)
        )
        return list(rows)


async def test_two_of_three_people_approve_and_the_request_resolves_once(
    app: FastAPI, owner: ApiClient
) -> None:
    policy = await approval_policy(owner, approvers_required=2, timeout_seconds=600)
    await subscribe_webhooks(app, owner)
    async with (
        await sdk_client(app, owner) as agent,
        member(app, owner, "ada@example.com") as ada,
        member(app, owner, "bob@example.com", "admin") as bob,
    ):
        created = await request_approval(agent, amount=250, api_key="sk-live-abcdefabcdef")
        assert created["status"] == "pending"
        assert created["tool_name"] == "transfer"
        assert created["call_name"] == "tool.transfer"
        assert created["agent"] == "payer"
        assert created["arguments"] == {"amount": 250, "api_key": "[REDACTED]"}
        assert (created["policy_id"], created["approvers_required"]) == (policy["id"], 2)
        assert created["requested_by"]["type"] == "api_key"
        assert created["on_timeout"] == "deny"
        approval_id = created["id"]

        first = await ada.post(f"/api/approvals/{approval_id}/approve", json={"comment": "ok"})
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["approvals"]) == ("pending", 1)
        # The same person approving again counts once.
        again = await ada.post(f"/api/approvals/{approval_id}/approve")
        assert (again.status_code, again.json()["approvals"]) == (200, 1)
        # …and may not change their mind.
        changed = await ada.post(f"/api/approvals/{approval_id}/deny")
        assert (changed.status_code, changed.json()["code"]) == (409, "already_decided")

        second = await bob.post(f"/api/approvals/{approval_id}/approve")
        assert second.status_code == 200, second.text
        done = second.json()
        assert (done["status"], done["approvals"]) == ("approved", 2)
        assert [d["user_email"] for d in done["decisions"]] == [
            "ada@example.com",
            "bob@example.com",
        ]
        assert done["decisions"][0]["comment"] == "ok"

        late = await owner.post(f"/api/approvals/{approval_id}/deny")
        assert (late.status_code, late.json()["code"]) == (409, "approval_resolved")

    assert await audit_actions(app, approval_id) == [
        "approval.requested",
        "approval.approved",
        "approval.approved",
        "approval.resolved",
    ]
    [requested] = await webhook_events(app, "approval.requested")
    [resolved] = await webhook_events(app, "approval.resolved")
    assert requested["approval_id"] == resolved["approval_id"] == approval_id
    assert resolved["status"] == "approved"


async def test_one_deny_vetoes_at_once(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner, approvers_required=3)
    async with await sdk_client(app, owner) as agent, member(app, owner, "ada@example.com") as ada:
        approval_id = (await request_approval(agent))["id"]
        assert (await ada.post(f"/api/approvals/{approval_id}/approve")).status_code == 200
        denied = await owner.post(
            f"/api/approvals/{approval_id}/deny", json={"comment": "not this month"}
        )
        assert denied.status_code == 200, denied.text
        assert denied.json()["status"] == "denied"
        assert denied.json()["decisions"][-1] == {
            **denied.json()["decisions"][-1],
            "verdict": "deny",
            "comment": "not this month",
        }


async def test_the_requesting_person_cannot_approve_their_own_request(
    app: FastAPI, owner: ApiClient
) -> None:
    await approval_policy(owner)
    created = await request_approval(owner)
    assert created["requested_by"] == {"type": "user", "id": owner.user_id}
    refused = await owner.post(f"/api/approvals/{created['id']}/approve")
    assert (refused.status_code, refused.json()["code"]) == (403, "self_approval_forbidden")
    async with member(app, owner, "ada@example.com") as ada:
        assert (await ada.post(f"/api/approvals/{created['id']}/approve")).json()[
            "status"
        ] == "approved"


async def test_api_keys_never_decide_even_with_every_scope(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    scopes = (await owner.get("/api/api-keys/scopes")).json()
    assert "approvals:decide" not in {s["scope"] for s in scopes}
    async with await sdk_client(
        app, owner, "decisions:write", "approvals:read", "policies:write"
    ) as agent:
        approval_id = (await request_approval(agent))["id"]
        for verdict in ("approve", "deny"):
            refused = await agent.post(f"/api/approvals/{approval_id}/{verdict}")
            assert (refused.status_code, refused.json()["code"]) == (
                403,
                "human_approver_required",
            )
        bad_scope = await owner.post(
            "/api/api-keys", json={"name": "decider", "scopes": ["approvals:decide"]}
        )
        assert bad_scope.status_code == 422, bad_scope.text
    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["status"] == "pending"


async def test_a_viewer_reads_but_cannot_decide(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    async with (
        await sdk_client(app, owner) as agent,
        member(app, owner, "vera@example.com", "viewer") as vera,
    ):
        approval_id = (await request_approval(agent))["id"]
        assert (await vera.get(f"/api/approvals/{approval_id}")).status_code == 200
        refused = await vera.post(f"/api/approvals/{approval_id}/approve")
        assert (refused.status_code, refused.json()["code"]) == (403, "missing_permission")


async def test_approver_role_raises_the_floor(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner, approver_role="admin")
    async with (
        await sdk_client(app, owner) as agent,
        member(app, owner, "ada@example.com") as ada,
        member(app, owner, "bob@example.com", "admin") as bob,
    ):
        approval_id = (await request_approval(agent))["id"]
        refused = await ada.post(f"/api/approvals/{approval_id}/approve")
        assert (refused.status_code, refused.json()["code"]) == (403, "approver_role_required")
        ok = await bob.post(f"/api/approvals/{approval_id}/approve")
        assert ok.json()["status"] == "approved"


async def test_a_call_no_policy_holds_is_refused(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    async with await sdk_client(app, owner) as agent:
        refused = await agent.post(
            "/api/approvals", json={"name": "tool.lookup", "arguments": {"q": 1}}
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "approval_not_required"
        assert refused.json()["action"] == "allow"
    listed = (await owner.get("/api/approvals", params={"any_status": True})).json()
    assert listed["data"] == []


async def test_a_decision_after_expiry_is_refused_before_the_loop_runs(
    app: FastAPI, owner: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await approval_policy(owner, timeout_seconds=60)
    await subscribe_webhooks(app, owner)
    async with await sdk_client(app, owner) as agent, member(app, owner, "ada@example.com") as ada:
        approval_id = (await request_approval(agent))["id"]
        later = utcnow() + timedelta(seconds=61)
        monkeypatch.setattr(decide_module, "utcnow", lambda: later)
        monkeypatch.setattr(service_module, "utcnow", lambda: later)
        refused = await ada.post(f"/api/approvals/{approval_id}/approve")
        assert (refused.status_code, refused.json()["code"]) == (409, "approval_expired")
        shown = (await ada.get(f"/api/approvals/{approval_id}")).json()
        assert (shown["status"], shown["decisions"]) == ("expired", [])
        pending = (await owner.get("/api/approvals")).json()["data"]
        assert pending == []
        expired = (await owner.get("/api/approvals", params={"status": "expired"})).json()
        assert [a["id"] for a in expired["data"]] == [approval_id]
        assert await webhook_events(app, "approval.resolved") == []

        # The loop records the expiry and announces it, once.
        import corral.loops as loops_module

        monkeypatch.setattr(loops_module, "utcnow", lambda: later)
        loops = container_of(app).loops
        await loops.run_once("approval_expiry")
        await loops.run_once("approval_expiry")
    [resolved] = await webhook_events(app, "approval.resolved")
    assert (resolved["approval_id"], resolved["status"]) == (approval_id, "expired")
    assert (await audit_actions(app, approval_id))[-1] == "approval.resolved"


async def test_listing_filters_and_pages(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner, applies_to="tool.*")
    async with await sdk_client(app, owner) as agent, member(app, owner, "ada@example.com") as ada:
        ids = [(await request_approval(agent, f"tool.t{i}"))["id"] for i in range(3)]
        other = await agent.post(
            "/api/approvals", json={"name": "tool.t9", "arguments": {}, "agent": "other"}
        )
        await ada.post(f"/api/approvals/{ids[0]}/approve")
        first = (await ada.get("/api/approvals", params={"limit": 1, "agent": "payer"})).json()
        assert [a["id"] for a in first["data"]] == [ids[2]]
        second = (
            await ada.get(
                "/api/approvals",
                params={"limit": 5, "agent": "payer", "cursor": first["next_cursor"]},
            )
        ).json()
        assert [a["id"] for a in second["data"]] == [ids[1]]
        approved = (await ada.get("/api/approvals", params={"status": "approved"})).json()
        assert [a["id"] for a in approved["data"]] == [ids[0]]
        everything = (await ada.get("/api/approvals", params={"any_status": True})).json()
        assert len(everything["data"]) == 4
        assert other.json()["id"] in {a["id"] for a in everything["data"]}
        # A key without approvals:read follows only its own requests.
        async with await sdk_client(app, owner) as another:
            assert (await another.get("/api/approvals")).json()["data"] == []
            hidden = await another.get(f"/api/approvals/{ids[1]}")
            assert hidden.status_code == 404
        assert (await agent.get(f"/api/approvals/{ids[1]}")).status_code == 200


async def test_another_organization_cannot_see_or_decide(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await approval_policy(owner)
    async with await sdk_client(app, owner) as agent:
        approval_id = (await request_approval(agent))["id"]
    assert (await stranger.get(f"/api/approvals/{approval_id}")).status_code == 404
    for verdict in ("approve", "deny"):
        refused = await stranger.post(f"/api/approvals/{approval_id}/{verdict}")
        assert (refused.status_code, refused.json()["code"]) == (404, "approval_not_found")
    assert (await stranger.get("/api/approvals", params={"any_status": True})).json()["data"] == []
    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["status"] == "pending"


async def test_the_long_poll_answers_when_someone_decides(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    async with await sdk_client(app, owner) as agent, member(app, owner, "ada@example.com") as ada:
        approval_id = (await request_approval(agent))["id"]
        waiting = asyncio.create_task(agent.get(f"/api/approvals/{approval_id}?wait=30"))
        # The waiter is parked once it holds no connection; approve then.
        await asyncio.sleep(0)
        approved = await ada.post(f"/api/approvals/{approval_id}/approve")
        assert approved.status_code == 200
        answered = await asyncio.wait_for(waiting, 20)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "approved"


async def test_concurrent_decisions_resolve_exactly_once(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner, approvers_required=2)
    await subscribe_webhooks(app, owner)
    async with (
        await sdk_client(app, owner) as agent,
        member(app, owner, "ada@example.com") as ada,
        member(app, owner, "bob@example.com") as bob,
        member(app, owner, "cy@example.com") as cy,
    ):
        # Two approvals reaching N at once.
        both = (await request_approval(agent))["id"]
        answers = await asyncio.gather(
            ada.post(f"/api/approvals/{both}/approve"),
            bob.post(f"/api/approvals/{both}/approve"),
        )
        assert sorted(r.status_code for r in answers) == [200, 200]
        assert sorted(r.json()["status"] for r in answers) == ["approved", "pending"]
        # Approve against deny on a request one approval would settle.
        await ada.post(f"/api/approvals/{(await request_approval(agent))['id']}/deny")
        raced = (await request_approval(agent))["id"]
        await ada.post(f"/api/approvals/{raced}/approve")
        answers = await asyncio.gather(
            bob.post(f"/api/approvals/{raced}/approve"),
            cy.post(f"/api/approvals/{raced}/deny"),
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 409], [r.text for r in answers]
        final = (await owner.get(f"/api/approvals/{raced}")).json()
        assert final["status"] in ("approved", "denied")
    resolved = [e["approval_id"] for e in await webhook_events(app, "approval.resolved")]
    assert (resolved.count(both), resolved.count(raced)) == (1, 1)


async def test_policy_settings_are_validated(owner: ApiClient) -> None:
    for config, key in (
        ({"on_timeout": "maybe"}, "on_timeout"),
        ({"approvers_required": 11}, "approvers_required"),
        ({"approver_role": "viewer"}, "approver_role"),
        ({"timeout_seconds": 10**7}, "timeout_seconds"),
    ):
        response = await owner.post(
            "/api/policies",
            json={
                "name": f"bad {key}",
                "expression": "true",
                "action": "require_approval",
                "action_config": config,
            },
        )
        assert response.status_code == 400, response.text
        assert key in response.text


async def test_an_end_user_sees_only_their_own_requests(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    end_users = []
    for external_id in ("alice", "bob"):
        created = await owner.post("/api/end-users", json={"external_id": external_id})
        assert created.status_code == 201, created.text
        end_users.append(created.json()["id"])
    alice, bob = end_users
    async with await sdk_client(app, owner, "decisions:write", "approvals:read") as agent:
        held = await agent.post(
            "/api/approvals",
            json={"name": "tool.transfer", "arguments": {}},
            headers={"Corral-End-User": alice},
        )
        assert held.status_code == 201, held.text
        assert held.json()["end_user_id"] == alice
        approval_id = held.json()["id"]
        as_bob = {"Corral-End-User": bob}
        assert (await agent.get(f"/api/approvals/{approval_id}", headers=as_bob)).status_code == 404
        listed = await agent.get("/api/approvals", headers=as_bob)
        assert listed.json()["data"] == []
        as_alice = {"Corral-End-User": alice}
        assert (
            await agent.get(f"/api/approvals/{approval_id}", headers=as_alice)
        ).status_code == 200


async def test_the_requester_withdraws_and_nobody_can_approve_after(
    app: FastAPI, owner: ApiClient
) -> None:
    await approval_policy(owner)
    async with (
        await sdk_client(app, owner) as agent,
        await sdk_client(app, owner) as other_agent,
        member(app, owner, "ada@example.com") as ada,
    ):
        approval_id = (await request_approval(agent))["id"]
        # Another key does not even see the request; a person who reads it may not withdraw it.
        unseen = await other_agent.post(f"/api/approvals/{approval_id}/withdraw")
        assert unseen.status_code == 404
        refused = await owner.post(f"/api/approvals/{approval_id}/withdraw")
        assert (refused.status_code, refused.json()["code"]) == (403, "not_requester")
        withdrawn = await agent.post(f"/api/approvals/{approval_id}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "expired"
        late = await ada.post(f"/api/approvals/{approval_id}/approve")
        assert (late.status_code, late.json()["code"]) == (409, "approval_expired")
        again = await agent.post(f"/api/approvals/{approval_id}/withdraw")
        assert again.json()["status"] == "expired"
        assert (await audit_actions(app, approval_id))[-1] == "approval.withdrawn"


async def test_an_approval_that_won_the_race_is_what_withdraw_answers(
    app: FastAPI, owner: ApiClient
) -> None:
    await approval_policy(owner)
    async with await sdk_client(app, owner) as agent, member(app, owner, "ada@example.com") as ada:
        approval_id = (await request_approval(agent))["id"]
        assert (await ada.post(f"/api/approvals/{approval_id}/approve")).status_code == 200
        answered = await agent.post(f"/api/approvals/{approval_id}/withdraw")
        assert answered.status_code == 200
        assert answered.json()["status"] == "approved"


async def test_another_organization_cannot_withdraw(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await approval_policy(owner)
    async with await sdk_client(app, owner) as agent:
        approval_id = (await request_approval(agent))["id"]
    refused = await stranger.post(f"/api/approvals/{approval_id}/withdraw")
    assert refused.status_code == 404
