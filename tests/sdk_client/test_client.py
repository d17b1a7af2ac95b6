"""`Client.check` against a real server: every action, the deny posture, agents and end users."""

from __future__ import annotations

import pytest

from corral_sdk import (
    ApprovalRequired,
    Client,
    CorralError,
    PolicyBlocked,
    Throttled,
)
from corral_sdk.policy import Action
from tests.sdk_client.conftest import NEVER, SERVER_TIMEOUT_SECONDS, Corral

RM_RF = 'has(args.command) && args.command.contains("rm -rf")'


def test_block_raises_with_the_policy_and_allow_returns(corral: Corral, client: Client) -> None:
    policy = corral.create_policy(
        name="no recursive deletes",
        action="block",
        expression=RM_RF,
        applies_to=["tool.shell"],
        action_config={"message": "recursive deletes are not allowed"},
    )
    with pytest.raises(PolicyBlocked) as blocked:
        client.check("tool.shell", args={"command": "rm -rf /"})
    error = blocked.value
    assert isinstance(error, CorralError)
    assert (error.policy_id, error.policy_name) == (policy["id"], "no recursive deletes")
    assert error.message == "recursive deletes are not allowed"
    assert error.decision is not None
    assert error.decision.action is Action.BLOCK
    assert error.decision_id is not None

    allowed = client.check("tool.shell", args={"command": "ls"})
    assert allowed.allowed
    assert allowed.plain_allow
    assert client.revision is not None


def test_steer_returns_the_replacement(corral: Corral, client: Client) -> None:
    corral.create_policy(
        name="only example.com",
        action="steer",
        expression='!host_matches(url_host(args.url), "example.com")',
        applies_to=["tool.http_get"],
        action_config={"replacement": {"error": "host not allowed"}},
    )
    steered = client.check("tool.http_get", args={"url": "https://evil.test/x"})
    assert steered.action is Action.STEER
    assert steered.replacement == {"error": "host not allowed"}
    assert client.check("tool.http_get", args={"url": "https://api.example.com/"}).allowed


def test_throttle_refuses_once_the_bucket_is_empty(corral: Corral, client: Client) -> None:
    corral.create_policy(
        name="two searches",
        action="throttle",
        applies_to=["tool.search"],
        action_config={"max_calls": 2, "window_seconds": 3600, "scope": "agent"},
    )
    for _ in range(2):
        assert client.check("tool.search", args={"q": "x"}).allowed
    with pytest.raises(Throttled) as throttled:
        client.check("tool.search", args={"q": "x"})
    assert isinstance(throttled.value, PolicyBlocked)
    assert throttled.value.retry_after_seconds is not None
    assert throttled.value.retry_after_seconds > 0
    # Buckets are per agent: another agent still has its own.
    assert client.check("tool.search", args={"q": "x"}, agent="other-bot").allowed


def test_require_approval_raises(corral: Corral, client: Client) -> None:
    policy = corral.create_policy(
        name="refunds need a human",
        action="require_approval",
        expression="double(args.amount) > 100.0",
        applies_to=["tool.refund"],
        action_config={"approvers_required": 2},
    )
    with pytest.raises(ApprovalRequired) as required:
        client.check("tool.refund", args={"amount": 500})
    assert required.value.policy_id == policy["id"]
    assert required.value.decision is not None
    assert required.value.decision.action_config["approvers_required"] == 2
    assert client.check("tool.refund", args={"amount": 5}).allowed


def test_deny_posture_blocks_what_no_policy_allows(corral: Corral, client: Client) -> None:
    corral.set_posture("deny")
    corral.create_policy(name="reads are fine", action="allow", applies_to=["tool.read_file"])
    assert client.check("tool.read_file", args={"path": "/etc/hosts"}).allowed
    with pytest.raises(PolicyBlocked) as blocked:
        client.check("tool.write_file", args={"path": "/etc/hosts"})
    assert blocked.value.policy_id is None
    assert blocked.value.message == "no policy allowed this call and the default posture is deny"


def test_log_and_alert_allow_and_say_so(
    corral: Corral, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    logged = corral.create_policy(name="log tools", action="log", applies_to=["tool.*"])
    corral.create_policy(
        name="alert on prod",
        action="alert",
        expression='attrs["env"] == "prod"',
        applies_to=["tool.*"],
        action_config={"message": "a tool ran in prod"},
    )
    decision = client.check("tool.deploy", attributes={"env": "prod"})
    assert decision.allowed
    assert not decision.plain_allow
    assert {hit.policy_id for hit in decision.matched} >= {logged["id"]}
    assert "a tool ran in prod" in caplog.text


def test_agent_and_end_user_reach_the_policies(corral: Corral, client: Client) -> None:
    corral.create_policy(
        name="no interns",
        action="block",
        expression='"corral.end_user.id" in attrs && attrs["corral.end_user.id"] == "intern-7"',
        applies_to=["tool.shell"],
    )
    corral.create_policy(
        name="quarantine",
        action="block",
        expression='"gen_ai.agent.name" in attrs && attrs["gen_ai.agent.name"] == "legacy-bot"',
        applies_to=["tool.*"],
    )
    assert client.check("tool.shell", args={"command": "ls"}).allowed
    with client.end_user("intern-7"), pytest.raises(PolicyBlocked):
        client.check("tool.shell", args={"command": "ls"})
    with pytest.raises(PolicyBlocked):
        client.check("tool.shell", args={"command": "ls"}, end_user="intern-7")
    with pytest.raises(PolicyBlocked):
        client.check("tool.search", agent="legacy-bot")
    legacy = Client(
        corral.key,
        corral.base_url,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
        agent="legacy-bot",
        export_spans=False,
    )
    with legacy, pytest.raises(PolicyBlocked):
        legacy.check("tool.search")


async def test_acheck_decides_like_check(corral: Corral) -> None:
    corral.create_policy(
        name="no recursive deletes", action="block", expression=RM_RF, applies_to=["tool.shell"]
    )
    async_client = Client(
        corral.key,
        corral.base_url,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
        refresh_interval_seconds=NEVER,
    )
    try:
        with pytest.raises(PolicyBlocked):
            await async_client.acheck("tool.shell", args={"command": "rm -rf /"})
        assert (await async_client.acheck("tool.shell", args={"command": "ls"})).allowed
    finally:
        async_client.close()


def test_a_closed_client_refuses_to_decide(corral: Corral) -> None:
    closed = Client(
        corral.key, corral.base_url, timeout_seconds=SERVER_TIMEOUT_SECONDS, export_spans=False
    )
    with closed:
        closed.check("tool.shell")
    with pytest.raises(CorralError, match="closed"):
        closed.check("tool.shell")
