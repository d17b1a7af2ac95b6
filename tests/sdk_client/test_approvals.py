"""The SDK's approval round trip against a real server: a held call is requested, waits on the
long-poll, and runs when a person approves; raises when denied or when nobody answers."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest

from corral_sdk import ApprovalDenied, ApprovalRequired, ApprovalTimeout, Client, PendingApproval
from tests.clients import PASSWORD
from tests.sdk_client.conftest import NEVER, SERVER_TIMEOUT_SECONDS, Corral

# What an agent's key needs: the bundle, server decisions (approvals), spans.
AGENT_SCOPES = ["policies:read", "decisions:write", "traces:write"]
WAIT = 30.0
SECRET_ARGUMENT = "-".join(["sk", "live", "0123456789abcdef"])


class Approver:
    """The organization's owner, signed in: a person who may decide."""

    def __init__(self, corral: Corral) -> None:
        self.http = httpx2.Client(base_url=corral.base_url, timeout=WAIT)
        signed_in = self.http.post(
            "/api/auth/login", json={"email": "sdk@example.com", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        self.http.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]

    def decide(self, approval_id: str, verdict: str, comment: str | None = None) -> dict[str, Any]:
        response = self.http.post(
            f"/api/approvals/{approval_id}/{verdict}", json={"comment": comment}
        )
        assert response.status_code == 200, response.text
        answered: dict[str, Any] = response.json()
        return answered


@pytest.fixture
def approver(corral: Corral) -> Iterator[Approver]:
    person = Approver(corral)
    try:
        yield person
    finally:
        person.http.close()


@pytest.fixture
def requested() -> queue.Queue[PendingApproval]:
    return queue.Queue()


@pytest.fixture
def agent(corral: Corral, requested: queue.Queue[PendingApproval]) -> Iterator[Client]:
    sdk = Client(
        corral.create_key(AGENT_SCOPES),
        corral.base_url,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
        agent="payer",
        refresh_interval_seconds=NEVER,
        on_approval_requested=requested.put,
        # A failing test never leaves a call waiting for long.
        approval_timeout_seconds=WAIT,
    )
    try:
        yield sdk
    finally:
        sdk.close()


def hold_transfers(corral: Corral, **config: Any) -> None:
    corral.create_policy(
        name="people approve transfers",
        action="require_approval",
        applies_to=["tool.transfer"],
        action_config={"message": "transfers need a person", **config},
    )


def test_an_approved_call_runs_after_the_wait(
    corral: Corral, agent: Client, approver: Approver, requested: queue.Queue[PendingApproval]
) -> None:
    hold_transfers(corral)
    ran: list[int] = []

    @agent.guard
    def transfer(amount: int, token: str = SECRET_ARGUMENT) -> str:
        ran.append(amount)
        return f"sent {amount}"

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(transfer, 250)
        asked = requested.get(timeout=WAIT)
        assert (asked.tool, asked.approvers_required) == ("transfer", 1)
        assert ran == []
        shown = approver.http.get(f"/api/approvals/{asked.id}").json()
        assert shown["arguments"] == {"amount": 250, "token": "[REDACTED]"}
        assert shown["requested_by"]["type"] == "api_key"
        approver.decide(asked.id, "approve")
        assert pending.result(timeout=WAIT) == "sent 250"
    assert ran == [250]


def test_a_denied_call_raises_with_the_comment(
    corral: Corral, agent: Client, approver: Approver, requested: queue.Queue[PendingApproval]
) -> None:
    hold_transfers(corral)

    @agent.guard
    def transfer(amount: int) -> str:
        raise AssertionError("a denied call never runs")

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(transfer, 1_000_000)
        asked = requested.get(timeout=WAIT)
        approver.decide(asked.id, "deny", "far too much")
        with pytest.raises(ApprovalDenied) as denied:
            pending.result(timeout=WAIT)
    assert not isinstance(denied.value, ApprovalTimeout)
    assert denied.value.message == "sdk@example.com denied this call: far too much"
    assert denied.value.approval_id == asked.id


async def test_an_async_guard_waits_off_the_event_loop(
    corral: Corral, agent: Client, approver: Approver, requested: queue.Queue[PendingApproval]
) -> None:
    hold_transfers(corral)

    @agent.guard
    async def transfer(amount: int) -> str:
        return f"sent {amount}"

    pending = asyncio.create_task(transfer(5))
    asked = await asyncio.to_thread(requested.get, timeout=WAIT)
    # The loop is free while the call waits: this runs before the approval.
    assert not pending.done()
    await asyncio.to_thread(approver.decide, asked.id, "approve")
    assert await asyncio.wait_for(pending, WAIT) == "sent 5"


@pytest.mark.parametrize("on_timeout", ["deny", "allow"])
def test_an_expired_request_follows_on_timeout(
    corral: Corral, agent: Client, on_timeout: str
) -> None:
    # The server's long-poll answers when the request expires: no client clock involved.
    hold_transfers(corral, timeout_seconds=0.3, on_timeout=on_timeout)

    @agent.guard
    def transfer(amount: int) -> str:
        return f"sent {amount}"

    if on_timeout == "allow":
        assert transfer(7) == "sent 7"
    else:
        with pytest.raises(ApprovalTimeout):
            transfer(7)


def test_the_clients_own_wait_bounds_the_call(
    corral: Corral, agent: Client, approver: Approver
) -> None:
    hold_transfers(corral, timeout_seconds=600)

    @agent.guard(approval_timeout_seconds=0.2)
    def transfer(amount: int) -> str:
        return f"sent {amount}"

    with pytest.raises(ApprovalTimeout):
        transfer(7)
    # The client withdrew its request: nobody is left to approve a call that will never run.
    assert approver.http.get("/api/approvals").json()["data"] == []
    ended = approver.http.get("/api/approvals", params={"status": "expired"}).json()["data"]
    assert [a["tool_name"] for a in ended] == ["transfer"]


def test_without_the_decisions_scope_no_call_runs(corral: Corral) -> None:
    hold_transfers(corral)
    key = corral.create_key(["policies:read"])
    with (
        Client(
            key,
            corral.base_url,
            timeout_seconds=SERVER_TIMEOUT_SECONDS,
            refresh_interval_seconds=NEVER,
        ) as sdk,
        pytest.raises(ApprovalRequired) as refused,
    ):
        sdk.check("tool.transfer", args={"amount": 1})
    assert "403" in refused.value.message
