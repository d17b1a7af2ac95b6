"""LangChain tools guarded by Corral, driven by a real LangGraph graph against a real server.

The graph is LangGraph's canonical tool loop (a model node, `ToolNode`, `tools_condition`); the
model is langchain-core's own `GenericFakeChatModel` replaying scripted tool calls, so nothing
leaves the machine. Side-effect lists prove which tool bodies ran.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel

from corral_sdk import Client, PolicyBlocked
from corral_sdk.integrations.langchain import guard_tool, guard_tools
from tests.sdk_client.conftest import Corral

NO_RECURSIVE_DELETES = "no recursive deletes"


@pytest.fixture
def policies(corral: Corral) -> dict[str, str]:
    """A block on `rm -rf` in tool.shell and a steer for tool.fetch; names by id."""
    block = corral.create_policy(
        name=NO_RECURSIVE_DELETES,
        action="block",
        applies_to=["tool.shell", "tool.ashell", "tool.disk"],
        expression='args.command.contains("rm -rf")',
        action_config={"message": "recursive deletes are not allowed"},
    )
    steer = corral.create_policy(
        name="no internal hosts",
        action="steer",
        applies_to=["tool.fetch"],
        expression='url_host(args.url).endsWith(".internal")',
        action_config={"replacement": "That host is not reachable from agents."},
    )
    return {block["id"]: block["name"], steer["id"]: steer["name"]}


def _call(name: str, call_id: str, **args: Any) -> ToolCall:
    return ToolCall(name=name, args=args, id=call_id, type="tool_call")


def _graph(tools: list[BaseTool], *calls: ToolCall) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A tool loop whose model asks for `calls` in one turn, then answers."""
    model = GenericFakeChatModel(messages=iter([AIMessage("", tool_calls=list(calls)), "done"]))

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def _tool_messages(result: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage)}


def _shell_tools(ran: list[str]) -> list[BaseTool]:
    @tool
    def shell(command: str) -> str:
        """Run a shell command."""
        ran.append(command)
        return f"ran {command}"

    @tool
    async def ashell(command: str) -> str:
        """Run a shell command, asynchronously."""
        ran.append(f"async {command}")
        return f"ran {command}"

    return [shell, ashell]


def test_a_blocked_call_never_runs_and_the_agent_reads_why(
    corral: Corral, client: Client, policies: dict[str, str]
) -> None:
    ran: list[str] = []
    shell = _shell_tools(ran)[0]
    graph = _graph(
        guard_tools([shell], client),
        _call("shell", "c1", command="rm -rf /srv"),
        _call("shell", "c2", command="ls /srv"),
    )

    result = graph.invoke({"messages": [HumanMessage("clean up")]})

    assert ran == ["ls /srv"]
    messages = _tool_messages(result)
    assert messages["c1"].status == "error"
    assert messages["c1"].content == (
        "Corral refused this tool call (policy 'no recursive deletes'): "
        "recursive deletes are not allowed"
    )
    assert (messages["c2"].status, messages["c2"].content) == ("success", "ran ls /srv")
    assert result["messages"][-1].content == "done"  # the agent went on after the refusal

    assert client.flush()
    evidence = corral.decisions(action="block")
    assert [(d["call_name"], policies[d["policy_id"]]) for d in evidence] == [
        ("tool.shell", NO_RECURSIVE_DELETES)
    ]


async def test_async_tools_and_sync_tools_run_asynchronously_are_checked(
    client: Client, policies: dict[str, str]
) -> None:
    ran: list[str] = []
    shell, ashell = guard_tools(_shell_tools(ran), client)
    graph = _graph(
        [shell, ashell],
        _call("ashell", "c1", command="rm -rf /srv"),
        _call("ashell", "c2", command="ls"),
        _call("shell", "c3", command="rm -rf /"),
        _call("shell", "c4", command="pwd"),
    )

    result = await graph.ainvoke({"messages": [HumanMessage("clean up")]})

    assert sorted(ran) == ["async ls", "pwd"]
    statuses = {k: m.status for k, m in _tool_messages(result).items()}
    assert statuses == {"c1": "error", "c2": "success", "c3": "error", "c4": "success"}


def test_a_steered_call_returns_the_replacement_instead_of_running(
    client: Client, policies: dict[str, str]
) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> str:
        """Fetch a web page."""
        fetched.append(url)
        return "<html>"

    guarded = guard_tool(StructuredTool.from_function(fetch), client)
    graph = _graph(
        [guarded],
        _call("fetch", "c1", url="https://billing.internal/admin"),
        _call("fetch", "c2", url="https://example.com/"),
    )

    messages = _tool_messages(graph.invoke({"messages": [HumanMessage("look")]}))

    assert fetched == ["https://example.com/"]
    assert (messages["c1"].status, messages["c1"].content) == (
        "success",
        "That host is not reachable from agents.",
    )
    assert messages["c2"].content == "<html>"


def test_on_block_raise_propagates_the_policy_error(
    client: Client, policies: dict[str, str]
) -> None:
    ran: list[str] = []
    shell = guard_tool(_shell_tools(ran)[0], client, on_block="raise")
    graph = _graph([shell], _call("shell", "c1", command="rm -rf /"))

    with pytest.raises(PolicyBlocked) as refused:
        graph.invoke({"messages": [HumanMessage("clean up")]})

    assert ran == []
    assert refused.value.policy_name == NO_RECURSIVE_DELETES


class DiskArgs(BaseModel):
    command: str
    dry_run: bool = False


class DiskTool(BaseTool):
    """A hand-written tool class with a callback manager, as LangChain documents them."""

    name: str = "disk"
    description: str = "Run a disk command."
    args_schema: type[BaseModel] = DiskArgs
    ran: list[tuple[str, bool]] = []

    def _run(
        self,
        command: str,
        dry_run: bool = False,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        assert run_manager is not None  # LangChain still sees the original signature
        self.ran.append((command, dry_run))
        return "ok"


def test_a_basetool_subclass_keeps_its_schema_and_is_guarded(
    client: Client, policies: dict[str, str]
) -> None:
    original = DiskTool(ran=[])
    guarded = guard_tool(original, client)

    assert isinstance(guarded, DiskTool)
    assert (guarded.name, guarded.description) == (original.name, original.description)
    assert guarded.tool_call_schema.model_json_schema() == (  # type: ignore[union-attr]
        original.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
    )
    assert guarded.invoke({"command": "df -h", "dry_run": True}) == "ok"
    refusal = guarded.invoke(_call("disk", "c1", command="rm -rf /mnt"))
    assert isinstance(refusal, ToolMessage)
    assert refusal.status == "error"
    assert guarded.ran == [("df -h", True)]
    with pytest.raises(ValueError, match="already guarded"):
        guard_tool(guarded, client)


def test_the_tools_own_errors_are_handled_as_before(client: Client) -> None:
    def flaky(path: str) -> str:
        """Read a file that is not there."""
        raise ToolException(f"no such file: {path}")

    handled = guard_tool(StructuredTool.from_function(flaky, handle_tool_error=True), client)
    unhandled = guard_tool(StructuredTool.from_function(flaky), client)

    assert handled.invoke({"path": "a.txt"}) == "no such file: a.txt"
    with pytest.raises(ToolException, match=r"no such file: b\.txt"):
        unhandled.invoke({"path": "b.txt"})
