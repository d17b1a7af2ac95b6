"""A tiny agent whose dangerous tool call Corral blocks while its safe one runs.

The agent is a pydantic-ai agent driven by a scripted model (no LLM, no network besides Corral):
it first asks to clean up with `rm -rf`, reads Corral's refusal, then reads a file instead. Both
tools are guarded by the Corral SDK through the `CorralGuard` capability, which asks Corral
before every tool call; the `shell` tool's body never runs for the refused call.

    make run        # in one terminal: Corral on http://127.0.0.1:4318 with the dev key
    make example    # in another: this script

Settings come from the environment: `CORRAL_ENDPOINT` (default http://127.0.0.1:4318) and
`CORRAL_API_KEY` (default the development key that `make run` seeds).
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.error
from pathlib import Path

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

from corral_sdk import Client
from corral_sdk.integrations.pydantic_ai import CorralGuard
from examples.blocked_tool.policy import POLICY, ensure_policy

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
DEV_API_KEY = "crl_dev_local_do_not_use_in_production"
DANGEROUS_COMMAND = "rm -rf ./workspace"
SAFE_FILE = "notes.txt"


def scripted_model(messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
    """Stands in for an LLM: one tool call per turn, and it reports what each call returned."""
    results = [part for part in messages[-1].parts if isinstance(part, ToolReturnPart)]
    for result in results:
        if result.outcome == "success":
            print(f"  ran:     {result.content!r}")
        else:
            print(f"  BLOCKED: {result.content}")
    turn = sum(isinstance(message, ModelRequest) for message in messages)
    if turn == 1:
        return _call("shell", command=DANGEROUS_COMMAND)
    if turn == 2:
        return _call("read_file", path=SAFE_FILE)
    return ModelResponse(parts=[TextPart("I could not clean up, but I read the notes.")])


def _call(tool: str, **args: str) -> ModelResponse:
    shown = ", ".join(f"{name}={value!r}" for name, value in args.items())
    print(f"agent -> {tool}({shown})")
    return ModelResponse(parts=[ToolCallPart(tool, args)])


def build_agent(client: Client, workspace: Path, executed: list[str]) -> Agent[None, str]:
    agent = Agent(FunctionModel(scripted_model), capabilities=[CorralGuard(client)])

    @agent.tool_plain
    def shell(command: str) -> str:
        """Run a shell command (simulated: this example never touches your files)."""
        executed.append(f"shell: {command}")
        return f"(simulated) $ {command}"

    @agent.tool_plain
    def read_file(path: str) -> str:
        """Read a file of the agent's workspace."""
        executed.append(f"read_file: {path}")
        return (workspace / Path(path).name).read_text()

    return agent


def main(
    endpoint: str | None = None, api_key: str | None = None, timeout_seconds: float = 10.0
) -> int:
    """Run the example; 0 when the dangerous call was blocked and the safe one ran.

    `timeout_seconds` bounds each request to Corral; a first bundle that does not arrive in
    time leaves the client allowing calls (fail-open), so a slow server makes the example fail.
    """
    endpoint = (endpoint or os.environ.get("CORRAL_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    api_key = api_key or os.environ.get("CORRAL_API_KEY") or DEV_API_KEY
    try:
        policy = ensure_policy(endpoint, api_key)
    except urllib.error.URLError as error:
        print(f"Corral is not reachable at {endpoint} ({error}). Start it with `make run`.")
        return 2
    print(f"Corral at {endpoint}: policy {policy['name']!r} ({policy['id']}) blocks")
    print(f"  {policy['expression']} on {', '.join(policy['applies_to'])}\n")

    executed: list[str] = []
    with (
        tempfile.TemporaryDirectory() as directory,
        Client(api_key, endpoint=endpoint, timeout_seconds=timeout_seconds) as client,
    ):
        workspace = Path(directory)
        (workspace / SAFE_FILE).write_text("Corral decides tool calls before they run.")
        answer = build_agent(client, workspace, executed).run_sync("Tidy up my workspace.")
    print(f"agent says: {answer.output}\n")

    blocked = f"shell: {DANGEROUS_COMMAND}" not in executed
    safe_ran = f"read_file: {SAFE_FILE}" in executed
    if blocked and safe_ran:
        print(f"The dangerous call was BLOCKED by policy {POLICY['name']!r}; the safe call ran.")
        return 0
    print(f"Unexpected: tool bodies that ran: {executed}. Is the policy enabled?")
    return 1


if __name__ == "__main__":
    sys.exit(main())
