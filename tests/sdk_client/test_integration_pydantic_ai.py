"""pydantic-ai agents guarded by the `CorralGuard` capability, against a real server.

The models are pydantic-ai's own `FunctionModel` (scripted tool calls, and it records what the
model is shown) and `TestModel` (calls every tool), so nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from corral_sdk import Client, PolicyBlocked
from corral_sdk.integrations.pydantic_ai import CorralGuard
from tests.sdk_client.conftest import Corral

ModelFunction = Callable[[list[ModelMessage], AgentInfo], ModelResponse]


@pytest.fixture
def policies(corral: Corral) -> None:
    corral.create_policy(
        name="no recursive deletes",
        action="block",
        applies_to=["tool.shell"],
        expression='args.command.contains("rm -rf")',
        action_config={"message": "recursive deletes are not allowed"},
    )
    corral.create_policy(
        name="no internal hosts",
        action="steer",
        applies_to=["tool.fetch"],
        expression='url_host(args.url).endsWith(".internal")',
        action_config={"replacement": "That host is not reachable from agents."},
    )


def _scripted(*calls: ToolCallPart, seen: list[ToolReturnPart]) -> ModelFunction:
    """Asks for `calls` in one turn; then records the tool results it is shown and answers."""

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=list(calls))
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        seen.extend(part for part in last.parts if isinstance(part, ToolReturnPart))
        return ModelResponse(parts=[TextPart("done")])

    return model


def _agent(
    model: FunctionModel | TestModel, guard: CorralGuard, ran: list[str]
) -> Agent[None, str]:
    agent = Agent(model, capabilities=[guard])

    @agent.tool_plain
    def shell(command: str) -> str:
        """Run a shell command."""
        ran.append(f"shell {command}")
        return f"ran {command}"

    @agent.tool_plain
    async def fetch(url: str) -> str:
        """Fetch a web page."""
        ran.append(f"fetch {url}")
        return "<html>"

    return agent


async def test_a_blocked_call_never_runs_and_the_model_reads_why(
    client: Client, policies: None
) -> None:
    ran: list[str] = []
    seen: list[ToolReturnPart] = []
    model = FunctionModel(
        _scripted(
            ToolCallPart("shell", {"command": "rm -rf /srv"}, tool_call_id="c1"),
            ToolCallPart("shell", {"command": "ls /srv"}, tool_call_id="c2"),
            seen=seen,
        )
    )

    result = await _agent(model, CorralGuard(client), ran).run("clean up")

    assert ran == ["shell ls /srv"]
    assert result.output == "done"
    shown = {part.tool_call_id: (part.outcome, part.content) for part in seen}
    assert shown == {
        "c1": (
            "failed",
            "Corral refused this tool call (policy 'no recursive deletes'): "
            "recursive deletes are not allowed",
        ),
        "c2": ("success", "ran ls /srv"),
    }


def test_a_steered_call_returns_the_replacement(client: Client, policies: None) -> None:
    ran: list[str] = []
    seen: list[ToolReturnPart] = []
    model = FunctionModel(
        _scripted(
            ToolCallPart("fetch", {"url": "https://billing.internal/"}, tool_call_id="c1"),
            ToolCallPart("fetch", {"url": "https://example.com/"}, tool_call_id="c2"),
            seen=seen,
        )
    )

    _agent(model, CorralGuard(client), ran).run_sync("look")

    assert ran == ["fetch https://example.com/"]
    shown = {part.tool_call_id: (part.outcome, part.content) for part in seen}
    assert shown == {
        "c1": ("success", "That host is not reachable from agents."),
        "c2": ("success", "<html>"),
    }


def test_on_block_raise_ends_the_run_with_the_policy_error(client: Client, policies: None) -> None:
    ran: list[str] = []
    model = FunctionModel(
        _scripted(ToolCallPart("shell", {"command": "rm -rf /"}, tool_call_id="c1"), seen=[])
    )

    with pytest.raises(PolicyBlocked) as refused:
        _agent(model, CorralGuard(client, on_block="raise"), ran).run_sync("clean up")

    assert ran == []
    assert refused.value.policy_name == "no recursive deletes"


def test_every_tool_the_test_model_calls_is_decided(corral: Corral, client: Client) -> None:
    corral.create_policy(
        name="no shell at all", action="block", applies_to=["tool.shell"], expression="true"
    )
    ran: list[str] = []

    result = _agent(TestModel(), CorralGuard(client), ran).run_sync("anything")

    assert [entry.split()[0] for entry in ran] == ["fetch"]
    refusals = [
        part
        for message in result.all_messages()
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.outcome == "failed"
    ]
    assert [part.tool_name for part in refusals] == ["shell"]


def test_an_invalid_on_block_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="on_block"):
        CorralGuard(client, on_block="ignore")  # type: ignore[arg-type]
