"""Spans reach the server over OTLP: tool and model spans, and the decision evidence they carry."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from corral_sdk import Client, PolicyBlocked
from tests.sdk_client.conftest import SERVER_TIMEOUT_SECONDS, Corral


def _trace_id(call_span: Any) -> str:
    return format(call_span.get_span_context().trace_id, "032x")


def test_decisions_become_evidence_and_spans_nest(corral: Corral, client: Client) -> None:
    blocker = corral.create_policy(
        name="no recursive deletes",
        action="block",
        expression='args.command.contains("rm -rf")',
        applies_to=["tool.shell"],
        action_config={"message": "recursive deletes are not allowed"},
    )
    logger = corral.create_policy(name="log searches", action="log", applies_to=["tool.search"])

    @client.guard
    def shell(command: str) -> str:
        return command

    @client.guard
    def flaky() -> None:
        raise RuntimeError("backend down")

    with client.end_user("customer-42"):
        with client.model_call(model="gpt-4o", provider="openai") as call:
            call.record(input_tokens=1000, output_tokens=20)
            trace_id = _trace_id(call.span)
            with pytest.raises(PolicyBlocked) as blocked:
                shell("rm -rf /")
            assert shell("ls") == "ls"
            with pytest.raises(RuntimeError):
                flaky()
        client.check("tool.search", args={"q": "refund policy"})
    assert client.flush()

    rows = {row["call_name"]: row for row in corral.decisions(source="sdk")}
    assert set(rows) == {"tool.shell", "tool.search"}
    block = rows["tool.shell"]
    assert block["decision_id"] == blocked.value.decision_id
    assert (block["action"], block["policy_id"]) == ("block", blocker["id"])
    assert block["policy_name"] == "no recursive deletes"
    assert block["message"] == "recursive deletes are not allowed"
    assert (block["agent"], block["end_user"]) == ("ops-bot", "customer-42")
    assert block["trace_id"] == trace_id
    search = rows["tool.search"]
    assert (search["action"], search["policy_id"]) == ("allow", None)
    # The log policy that matched is linked to the decision, so its evidence is findable.
    assert [row["call_name"] for row in corral.decisions(policy_id=logger["id"])] == ["tool.search"]

    trace = corral.trace(trace_id)
    spans = {(s["name"], s["status"]): s for s in trace["spans"]}
    model = spans[("chat gpt-4o", "unset")]
    assert (model["category"], model["input_tokens"], model["output_tokens"]) == ("llm", 1000, 20)
    assert model["agent_name"] == "ops-bot"
    failed = spans[("execute_tool flaky", "error")]
    assert "backend down" in failed["status_message"]
    allowed = spans[("execute_tool shell", "unset")]
    assert allowed["parent_span_id"] == model["span_id"]
    assert allowed["tool_name"] == "shell"
    assert allowed["attributes"]["corral.tool.args"] == '{"command":"ls"}'
    assert "corral.decision.action" not in allowed["attributes"]
    assert trace["span_count"] == 4


def test_the_key_never_reaches_the_logs(corral: Corral, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    corral.create_policy(name="no shell", action="block", applies_to=["tool.shell"])
    good = Client(corral.key, corral.base_url, timeout_seconds=SERVER_TIMEOUT_SECONDS)
    with good:
        with pytest.raises(PolicyBlocked):
            good.check("tool.shell", args={"command": "ls"})
        good.flush()
    bad_key = "crl_" + "x" * 40
    bad = Client(
        bad_key,
        corral.base_url,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
        refresh_interval_seconds=0.01,
    )
    with bad:
        bad.model_call(model="gpt-4o").__enter__().__exit__(None, None, None)
        bad.flush()
    corral.stop()
    # The refused export and the refused bundle were both reported, without the key.
    assert "AuthenticationFailed" in caplog.text or "refused the API key" in caplog.text
    assert "401" in caplog.text
    assert corral.key not in caplog.text
    assert bad_key not in caplog.text
    assert "Bearer" not in caplog.text


async def test_a_model_call_in_a_coroutine(corral: Corral, client: Client) -> None:
    with client.end_user("customer-7"):
        call = client.model_call(model="claude-sonnet", provider="anthropic", agent="writer")
        call.record(input_tokens=5)
        async with call:
            call.record(output_tokens=7, response_model="claude-sonnet-4")
            trace_id = _trace_id(call.span)
    assert client.flush()
    (span,) = corral.trace(trace_id)["spans"]
    assert (span["category"], span["model"]) == ("llm", "claude-sonnet-4")
    assert (span["input_tokens"], span["output_tokens"]) == (5, 7)
    assert (span["agent_name"], span["end_user_id"]) == ("writer", "customer-7")


def test_no_spans_when_export_is_off(corral: Corral) -> None:
    corral.create_policy(name="no shell", action="block", applies_to=["tool.shell"])
    quiet = Client(
        corral.key, corral.base_url, timeout_seconds=SERVER_TIMEOUT_SECONDS, export_spans=False
    )
    with quiet:
        with pytest.raises(PolicyBlocked):
            quiet.check("tool.shell")
        with quiet.model_call(model="gpt-4o") as call:
            assert call.span is not None
            assert not call.span.is_recording()
        assert quiet.flush()
    assert corral.decisions(source="sdk") == []
