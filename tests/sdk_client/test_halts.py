"""Halts in the SDK against a real server: a halt made on the server is learned by the half-second
poll and raises `Halted` before the guarded call runs, for its scope only; clearing it lets
calls through again. A key that may only read policies still sees halts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from corral_sdk import Client, Halted
from tests.sdk_client.conftest import NEVER, SERVER_TIMEOUT_SECONDS, Corral

DEADLINE_SECONDS = 15.0


@pytest.fixture
def operator(corral: Corral) -> Iterator[httpx2.Client]:
    key = corral.create_key(["halts:read", "halts:write", "policies:read", "end_users:write"])
    with httpx2.Client(
        base_url=corral.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
    ) as http:
        yield http


@pytest.fixture
def polling(corral: Corral) -> Iterator[Client]:
    """A client on a key that only reads policies, polling halts every half second (the default)."""
    key = corral.create_key(["policies:read", "traces:write"])
    sdk = Client(
        key,
        corral.base_url,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
        agent="ops-bot",
        refresh_interval_seconds=NEVER,
    )
    try:
        yield sdk
    finally:
        sdk.close()


def halt(operator: httpx2.Client, **body: Any) -> dict[str, Any]:
    response = operator.post("/api/halts", json={"reason": "incident", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def until_raises(client: Client, attempt: Callable[[], object]) -> Halted:
    """Call `attempt` until it raises `Halted`, waiting for each change the poll brings."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            attempt()
        except Halted as halted:
            halted.add_note(f"after {client.halt_poll_interval_seconds}s polls")
            return halted
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the halt never reached the client")
        client.wait_for_halts(left)


def until_allowed(client: Client, attempt: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            attempt()
            return
        except Halted:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            client.wait_for_halts(left)


def test_an_agent_halt_raises_before_the_body_runs(
    polling: Client, operator: httpx2.Client
) -> None:
    ran: list[str] = []

    @polling.guard
    def deploy(target: str) -> str:
        ran.append(target)
        return target

    assert deploy("staging") == "staging"
    created = halt(operator, scope="agent", scope_value="ops-bot")
    before: list[int] = []

    def attempt() -> None:
        before.append(len(ran))
        deploy("prod")

    halted = until_raises(polling, attempt)
    # The refused call's body never ran.
    assert len(ran) == before[-1]
    assert halted.halt_id == created["id"]
    assert (halted.scope, halted.scope_value, halted.state) == ("agent", "ops-bot", "halted")
    assert halted.reason == "incident"
    # Another agent's calls go on.
    assert polling.check("tool.deploy", agent="other-bot").allowed
    cleared = operator.post(f"/api/halts/{created['id']}/clear")
    assert cleared.status_code == 200
    until_allowed(polling, lambda: deploy("prod"))
    assert ran[-1] == "prod"


def test_application_end_user_and_model_halts(polling: Client, operator: httpx2.Client) -> None:
    response = operator.post("/api/end-users", json={"external_id": "cust-9"})
    assert response.status_code == 201, response.text
    halt(operator, scope="end_user", scope_value="cust-9", state="paused")
    with polling.end_user("cust-9"):
        paused = until_raises(polling, lambda: polling.check("tool.lookup"))
    assert paused.state == "paused"
    assert polling.check("tool.lookup").allowed
    halt(operator, scope="model", scope_value="gpt-4o")
    until_raises(polling, lambda: polling.model_call(model="gpt-4o"))
    polling.model_call(model="gpt-4o-mini")
    halt(operator, scope="application")
    until_raises(polling, lambda: polling.check("tool.anything", agent="anyone"))


async def test_async_guarded_calls_are_halted(polling: Client, operator: httpx2.Client) -> None:
    @polling.guard
    async def fetch(url: str) -> str:
        return url

    assert await fetch("https://example.com") == "https://example.com"
    halt(operator, scope="application")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            await fetch("https://example.com")
        except Halted:
            break
        assert time.monotonic() < deadline, "the halt never reached the client"
        polling.wait_for_halts(deadline - time.monotonic())
