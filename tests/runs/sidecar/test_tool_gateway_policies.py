"""The tool gateway under policies: decided as the run, recorded, and enforced as the SDK does
(block, throttle and require_approval refuse and the tool never runs; steer answers with the
replacement; alert lets the call through and is recorded)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.governance.decisions import DecisionOutcome
from corral.runs.sidecar.contracts import EventSink, SidecarRun
from corral.runs.sidecar.tool_approvals import ApprovalAnswer
from tests.clients import ApiClient
from tests.runs.sidecar.test_tool_gateway_support import (
    ROOT_SPAN_ID,
    TRACE_ID,
    Harness,
    create_end_user,
    create_policy,
    make_run,
    open_harness,
    recorded_decisions,
)


@pytest.fixture
async def tools(app: FastAPI) -> AsyncIterator[Harness]:
    async with open_harness(app) as harness:
        yield harness


def lookup(tools: Harness, **changes: Any) -> dict[str, Any]:
    return {"name": "lookup", "url": tools.server.url("/lookup"), **changes}


async def test_a_blocked_call_is_refused_recorded_and_never_made(
    owner: ApiClient, tools: Harness
) -> None:
    policy = await create_policy(
        owner,
        name="no drops",
        action="block",
        expression='args.q.contains("drop")',
        applies_to=["tool.lookup"],
        action_config={"message": "dropping is not allowed"},
    )
    alice = await create_end_user(owner, "alice")
    run = make_run(owner, [lookup(tools)], end_user_id=alice)

    outcome = await tools.call(run, "lookup", {"q": "drop table"})

    assert outcome.status == "refused"
    assert outcome.message == "dropping is not allowed"
    assert outcome.result == {"code": "policy_blocked"}
    assert tools.server.received == []
    [record] = await recorded_decisions(tools.container)
    assert (record.action, record.policy_id, record.call_name) == (
        "block",
        policy["id"],
        "tool.lookup",
    )
    assert (record.agent, record.end_user) == ("helper", alice)
    assert (record.trace_id, record.span_id) == (TRACE_ID, ROOT_SPAN_ID)
    assert record.application_id == owner.app_id
    [event] = tools.sink.tool_calls()
    assert event["decision"] == {
        "action": "block",
        "policy_id": policy["id"],
        "policy_name": "no drops",
        "message": "dropping is not allowed",
        "decision_id": record.decision_id,
    }
    assert (event["tool"], event["arguments"], event["status"]) == (
        "lookup",
        {"q": "drop table"},
        "refused",
    )
    assert event["error"] == "dropping is not allowed"
    assert event["started_at_ns"] <= event["ended_at_ns"]

    allowed = await tools.call(run, "lookup", {"q": "select"})
    assert allowed.status == "ok"
    assert [r.path for r in tools.server.received] == ["/lookup?q=select"]
    # A plain allow leaves no evidence; its event still carries the decision.
    assert len(await recorded_decisions(tools.container)) == 1
    assert tools.sink.tool_calls()[1]["decision"]["action"] == "allow"
    # The block is also in the audit chain, done by the run.
    async with tools.container.sessions() as session:
        [audited] = await session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "policy_decision")
        )
    assert (audited.action, audited.outcome) == ("decision.block", "blocked")
    assert (audited.actor_type, audited.actor_id) == ("run", run.run_id)
    assert audited.target_id == record.id


async def test_the_policy_sees_the_call_as_the_sdk_describes_it(
    owner: ApiClient, tools: Harness
) -> None:
    await create_policy(
        owner,
        name="attributes",
        action="block",
        expression='attrs["gen_ai.tool.name"] == "lookup" && '
        'attrs["gen_ai.operation.name"] == "execute_tool" && '
        'attrs["corral.agent.name"] == "helper" && args.n == 3',
        applies_to=["tool.lookup"],
    )
    outcome = await tools.call(make_run(owner, [lookup(tools)]), "lookup", {"n": 3})
    assert outcome.status == "refused"


async def test_steer_answers_with_the_replacement(owner: ApiClient, tools: Harness) -> None:
    await create_policy(
        owner,
        name="use the cache",
        action="steer",
        applies_to=["tool.lookup"],
        action_config={"replacement": {"results": ["cached"]}, "message": "from the cache"},
    )
    outcome = await tools.call(make_run(owner, [lookup(tools)]), "lookup", {"q": "x"})
    assert (outcome.status, outcome.result) == ("ok", {"results": ["cached"]})
    assert tools.server.received == []
    [record] = await recorded_decisions(tools.container)
    assert record.action == "steer"
    [event] = tools.sink.tool_calls()
    assert (event["status"], event["decision"]["action"]) == ("ok", "steer")
    assert "http_status" not in event


async def test_throttle_refuses_with_a_retry_time(owner: ApiClient, tools: Harness) -> None:
    await create_policy(
        owner,
        name="one a minute",
        action="throttle",
        applies_to=["tool.lookup"],
        action_config={"max_calls": 1, "window_seconds": 60, "scope": "agent"},
    )
    run = make_run(owner, [lookup(tools)])
    assert (await tools.call(run, "lookup")).status == "ok"
    throttled = await tools.call(run, "lookup")
    assert throttled.status == "refused"
    assert isinstance(throttled.result, dict)
    assert throttled.result["code"] == "throttled"
    assert 0 < throttled.result["retry_after_seconds"] <= 60
    assert throttled.message is not None
    assert "retry after" in throttled.message
    assert len(tools.server.received) == 1
    actions = [r.action for r in await recorded_decisions(tools.container)]
    assert actions == ["allow", "throttle"]  # the admitted call is evidence too


async def test_require_approval_refuses_until_approvals_exist(
    owner: ApiClient, tools: Harness
) -> None:
    await create_policy(
        owner,
        name="approve lookups",
        action="require_approval",
        applies_to=["tool.lookup"],
        action_config={"message": "a human must look first"},
    )
    outcome = await tools.call(make_run(owner, [lookup(tools)]), "lookup")
    assert outcome.status == "refused"
    assert outcome.result == {"code": "approval_required"}
    assert outcome.message is not None
    assert outcome.message.startswith("a human must look first")
    assert tools.server.received == []
    [record] = await recorded_decisions(tools.container)
    assert record.action == "require_approval"


class Approver:
    """An approval gate that answers at once, as the approvals issue's gate will eventually."""

    def __init__(self, approved: bool) -> None:
        self.approved = approved
        self.asked: list[tuple[str, str | None]] = []

    async def wait(
        self,
        run: SidecarRun,
        tool: str,
        arguments: Mapping[str, Any],
        outcome: DecisionOutcome,
        sink: EventSink,  # noqa: ARG002 — the gate's signature
    ) -> ApprovalAnswer:
        self.asked.append((f"{run.run_id}:{tool}:{json.dumps(arguments)}", outcome.decision_id))
        if self.approved:
            return ApprovalAnswer(approved=True)
        return ApprovalAnswer(approved=False, code="approval_denied", message="denied by ada")


@pytest.mark.parametrize("approved", [True, False])
async def test_an_approval_gate_decides_held_calls(
    owner: ApiClient, app: FastAPI, approved: bool
) -> None:
    await create_policy(
        owner, name="approve", action="require_approval", applies_to=["tool.lookup"]
    )
    approver = Approver(approved)
    async with open_harness(app, approvals=approver) as tools:
        outcome = await tools.call(make_run(owner, [lookup(tools)]), "lookup", {"q": 1})
        reached = len(tools.server.received)
    [(asked, decision_id)] = approver.asked
    assert asked == 'run_test:lookup:{"q": 1}'
    assert decision_id is not None
    assert decision_id.startswith("dec_")
    if approved:
        assert (outcome.status, reached) == ("ok", 1)
    else:
        assert (outcome.status, outcome.result, outcome.message) == (
            "refused",
            {"code": "approval_denied"},
            "denied by ada",
        )
        assert reached == 0


async def test_an_alert_lets_the_call_through_and_is_recorded(
    owner: ApiClient, tools: Harness
) -> None:
    await create_policy(owner, name="watch lookups", action="alert", applies_to=["tool.lookup"])
    outcome = await tools.call(make_run(owner, [lookup(tools)]), "lookup")
    assert outcome.status == "ok"
    assert len(tools.server.received) == 1
    [record] = await recorded_decisions(tools.container)
    assert record.action == "allow"
    assert record.matched[0]["policy_name"] == "watch lookups"


async def test_unknown_and_unconfigured_tools_are_refused(owner: ApiClient, tools: Harness) -> None:
    run = make_run(owner, [{"name": "nowhere"}])
    unknown = await tools.call(run, "lookup")
    assert (unknown.status, unknown.result) == ("refused", {"code": "unknown_tool"})
    unconfigured = await tools.call(run, "nowhere")
    assert (unconfigured.status, unconfigured.result) == (
        "refused",
        {"code": "tool_not_configured"},
    )
    assert unconfigured.message is not None
    assert "no url" in unconfigured.message
    first, second = tools.sink.tool_calls()
    assert first["decision"] is None
    assert second["decision"]["action"] == "allow"
