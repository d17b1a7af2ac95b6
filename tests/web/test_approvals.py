"""The Approvals page: pending cards, approve and deny with N-of-M progress, who may decide,
the history tabs, tenants, CSRF and escaping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import update

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.approvals.models import Approval
from tests.api.approvals_support import approval_policy, member, request_approval
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of
from tests.web.support import post_form

XSS = '<script>alert("owned")</script>'
HTMX = {"HX-Request": "true"}


async def _agent_request(
    app: FastAPI, owner: ApiClient, key_name: str = "test key", **arguments: Any
) -> dict[str, Any]:
    key = await owner.create_key(["decisions:write"], name=key_name)
    async with asgi_client(app, token=key["key"]) as agent:
        return await request_approval(agent, **arguments)


async def _post(client: ApiClient, action: str, **fields: str) -> Any:
    return await post_form(client, "/approvals", action, **fields)


async def test_two_people_approve_and_the_card_shows_the_progress(
    app: FastAPI, owner: ApiClient
) -> None:
    await approval_policy(owner, approvers_required=2)
    created = await _agent_request(app, owner, amount=250, api_key="sk-live-abcdefabcdef")
    approval_id = created["id"]
    async with (
        member(app, owner, "ada@example.com") as ada,
        member(app, owner, "bob@example.com", "admin") as bob,
    ):
        page = await ada.get("/approvals")
        assert page.status_code == 200, page.text
        assert "<code>transfer</code>" in page.text
        assert "payer" in page.text
        assert "[REDACTED]" in page.text
        assert "sk-live-abcdefabcdef" not in page.text
        assert "approve tool.transfer" in page.text  # the policy's name
        assert "0 of 2" in page.text
        assert f'action="/approvals/{approval_id}/approve"' in page.text

        first = await _post(ada, f"/approvals/{approval_id}/approve")
        assert first.status_code == 303, first.text
        assert first.headers["location"] == "/approvals"
        after = (await ada.get("/approvals")).text
        assert "1 of 2" in after
        assert "You approved this request." in after
        assert f'action="/approvals/{approval_id}/approve"' not in after

        # htmx sends the token in its header and is answered with where to go.
        second = await bob.post(f"/approvals/{approval_id}/approve", headers=HTMX)
        assert second.status_code == 204, second.text
        assert second.headers["hx-redirect"] == "/approvals"

    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["status"] == "approved"
    assert "Nothing is waiting" in (await owner.get("/approvals")).text
    history = (await owner.get("/approvals?status=approved")).text
    assert approval_id in history
    assert "ada@example.com" in history
    assert "bob@example.com" in history


async def test_deny_with_a_comment_lands_in_the_history(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    approval_id = (await _agent_request(app, owner))["id"]
    denied = await _post(owner, f"/approvals/{approval_id}/deny", comment="not this month")
    assert denied.status_code == 303, denied.text
    found = (await owner.get(f"/api/approvals/{approval_id}")).json()
    assert found["status"] == "denied"
    assert found["decisions"][0]["comment"] == "not this month"
    history = (await owner.get("/approvals?status=denied")).text
    assert "<q>not this month</q>" in history
    assert approval_id not in (await owner.get("/approvals?status=expired")).text


async def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    await approval_policy(owner)
    approval_id = (await _agent_request(app, owner))["id"]
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        page = await vera.get("/approvals")
        assert page.status_code == 200
        assert approval_id in page.text
        assert "/approve" not in page.text
        assert "/deny" not in page.text
        assert "needs the approvals:decide permission" in page.text
        forged = await _post(vera, f"/approvals/{approval_id}/approve")
        assert forged.status_code == 403
        assert "approvals:decide" in forged.text
    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["approvals"] == 0


async def test_the_requester_may_not_decide_and_sees_why(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    approval_id = (await request_approval(owner))["id"]
    page = (await owner.get("/approvals")).text
    assert "You asked for this approval" in page
    assert "/approve" not in page
    # The service refuses; an htmx post gets the card back with the refusal in it…
    refused = await owner.post(f"/approvals/{approval_id}/approve", headers=HTMX)
    assert refused.status_code == 200
    assert 'role="alert"' in refused.text
    assert "someone else must decide it" in refused.text
    assert f'id="approval-{approval_id}"' in refused.text
    # …a plain form post gets the refusal as a page with the API's status.
    plain = await _post(owner, f"/approvals/{approval_id}/deny")
    assert plain.status_code == 403
    assert "someone else must decide it" in plain.text
    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["status"] == "pending"


async def test_another_organization_neither_sees_nor_decides(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await approval_policy(owner)
    approval_id = (await _agent_request(app, owner))["id"]
    page = await stranger.get("/approvals")
    assert page.status_code == 200
    assert approval_id not in page.text
    attempt = await _post(stranger, f"/approvals/{approval_id}/approve")
    assert attempt.status_code == 404
    assert "approval not found" in attempt.text
    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["approvals"] == 0


async def test_a_post_without_the_token_is_refused(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    approval_id = (await _agent_request(app, owner))["id"]
    async with member(app, owner, "ada@example.com") as ada:
        ada.headers.pop("X-CSRF-Token")
        for data in ({}, {"csrf_token": "guessed"}):
            refused = await ada.post(f"/approvals/{approval_id}/approve", data=data)
            assert refused.status_code == 403
            assert "security token" in refused.text
    assert (await owner.get(f"/api/approvals/{approval_id}")).json()["approvals"] == 0


async def test_what_an_agent_sent_renders_inert(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    key = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=key["key"]) as agent:
        response = await agent.post(
            "/api/approvals",
            json={"name": "tool.transfer", "arguments": {"memo": XSS}, "agent": XSS},
        )
        assert response.status_code == 201, response.text
    page = (await owner.get("/approvals")).text
    assert XSS not in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


async def test_an_expired_request_moves_to_the_expired_tab(app: FastAPI, owner: ApiClient) -> None:
    await approval_policy(owner)
    approval_id = (await _agent_request(app, owner))["id"]
    # Past its expiry before the expiry loop recorded it: expired all the same.
    async with transaction(container_of(app).sessions) as session:
        await session.execute(
            update(Approval)
            .where(Approval.id == approval_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert approval_id not in (await owner.get("/approvals")).text
    expired = (await owner.get("/approvals?status=expired")).text
    assert f'id="approval-{approval_id}"' in expired
    assert "badge-expired" in expired
    assert "/approve" not in expired
    late = await _post(owner, f"/approvals/{approval_id}/approve")
    assert late.status_code == 409
    assert "expired" in late.text


async def test_signed_out_goes_to_sign_in(client: ApiClient) -> None:
    answer = await client.get("/approvals?status=denied")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/sign-in?next=")


async def test_the_card_names_the_requesting_key(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await approval_policy(owner)
    created = await _agent_request(app, owner, key_name=f"billing agent {XSS}", amount=5)
    page = (await owner.get("/approvals")).text
    assert "<strong>billing agent &lt;script&gt;" in page
    assert XSS not in page
    assert created["requested_by"]["id"] in page
    # A stranger's page never resolves this org's names (and cannot see the card at all).
    assert "billing agent" not in (await stranger.get("/approvals")).text
