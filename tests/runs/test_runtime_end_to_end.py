"""The runtime as a real process (`python -m corral.runtime`) against a real sidecar socket.

Each test starts one runtime, which imports pydantic-ai for seconds: the tests here are few and
each checks a whole run; the endpoints are tested against the server directly.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import corral
from corral.runs.sidecar.contracts import EventSink, SidecarRun, ToolOutcome
from corral.runs.sidecar.scripted import ScriptedModelGateway
from corral.runs.sidecar.server import Sidecar
from tests.runs.sidecar.run_fixtures import RecordingSink, ScriptedToolGateway, scripted_run


@dataclass
class RecordingModelGateway:
    """The scripted gateway, keeping each request body the runtime sent."""

    inner: ScriptedModelGateway = field(default_factory=ScriptedModelGateway)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        return await self.inner.list_models(run)

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        self.bodies.append(body)
        return await self.inner.chat_completion(run, body, sink)

    def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        self.bodies.append(body)
        return self.inner.stream_chat_completion(run, body, sink)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Short: a unix socket path is at most 107 bytes, and pytest's tmp_path can be longer.
    parent = Path(tempfile.mkdtemp(prefix="corral-rt-", dir="/tmp"))
    yield parent / "sock"
    shutil.rmtree(parent, ignore_errors=True)


@dataclass
class Finished:
    exit_code: int
    stderr: str
    sink: RecordingSink
    model: RecordingModelGateway
    tools: ScriptedToolGateway


def sandbox_like_python_path(root: Path) -> str:
    """What the sandbox mounts: `corral/__init__.py` and `corral/runtime/`, then the libraries."""
    package = root / "corral"
    package.mkdir()
    source = Path(corral.__file__).parent
    shutil.copy(source / "__init__.py", package / "__init__.py")
    shutil.copytree(source / "runtime", package / "runtime")
    return os.pathsep.join([str(root), sysconfig.get_paths()["purelib"]])


async def run_in_runtime(
    socket_dir: Path,
    run: SidecarRun,
    tools: ScriptedToolGateway | None = None,
    *,
    isolated: bool = False,
) -> Finished:
    """Starts a runtime, assigns it the run once it polls (as a warm pool does), awaits its end.

    `isolated` runs it as the sandbox does: an empty environment, and nothing importable but the
    runtime's own files and the installed libraries (`-S`: no site hooks, no editable install).
    """
    model = RecordingModelGateway()
    tools = tools or ScriptedToolGateway()
    sink = RecordingSink()
    async with Sidecar(socket_dir, model, tools) as sidecar:
        socket_env = {"CORRAL_SIDECAR_SOCKET": str(sidecar.socket_path)}
        if isolated:
            python_path = sandbox_like_python_path(socket_dir.parent)
            argv = [sys.executable, "-S", "-m", "corral.runtime"]
            env = {**socket_env, "PYTHONPATH": python_path, "PYTHONDONTWRITEBYTECODE": "1"}
        else:
            argv = [sys.executable, "-m", "corral.runtime"]
            env = {**os.environ, **socket_env}
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=socket_dir.parent,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await sidecar.wait_runtime_ready()
            sidecar.assign(run, sink)
            _, stderr = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, stderr.decode(), sink, model, tools)


def _tool_messages(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


async def test_a_tool_call_a_refusal_a_log_line_then_the_structured_output(
    socket_dir: Path,
) -> None:
    run = scripted_run(
        [
            {
                "tool_calls": [
                    {"name": "lookup", "arguments": {"q": "2+2"}},
                    {"name": "delete_everything", "arguments": {}},
                ]
            },
            {"tool_calls": [{"name": "log", "arguments": {"level": "info", "message": "half"}}]},
            {"output": {"answer": 4}},
        ],
        tools=[
            {
                "name": "lookup",
                "url": "https://example.test/lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
            {"name": "delete_everything", "url": "https://example.test/delete"},
        ],
        output_schema={
            "type": "object",
            "properties": {"answer": {"type": "integer"}},
            "required": ["answer"],
        },
        skills=("Always double-check sums.",),
    )
    tools = ScriptedToolGateway(
        outcomes={
            "lookup": ToolOutcome(status="ok", result={"sum": 4}),
            "delete_everything": ToolOutcome(status="refused", message="deletes are blocked"),
        }
    )

    finished = await run_in_runtime(socket_dir, run, tools)

    assert finished.exit_code == 0, finished.stderr
    assert finished.sink.of("output") == [{"output": {"answer": 4}}]
    assert finished.sink.of("runtime_error") == []
    assert sorted(finished.tools.calls) == [
        ("delete_everything", {}),
        ("lookup", {"q": "2+2"}),
    ]
    assert finished.sink.of("log") == [{"level": "info", "message": "half"}]
    first, second, third = finished.model.bodies
    assert first["model"] == "scripted"
    system = first["messages"][0]
    assert system["role"] == "system"
    assert "You test things." in system["content"]
    assert "Always double-check sums." in system["content"]
    assert first["messages"][1] == {"role": "user", "content": '{"question": "what is 2+2?"}'}
    tools_sent = {tool["function"]["name"]: tool["function"] for tool in first["tools"]}
    assert set(tools_sent) == {"lookup", "delete_everything", "log", "output"}
    assert tools_sent["output"]["parameters"]["properties"] == {"answer": {"type": "integer"}}
    assert tools_sent["output"]["description"].count("Return the final result") == 1
    results = _tool_messages(second)
    assert any('"sum":4' in text.replace(" ", "") for text in results)
    assert "refused by policy: deletes are blocked" in results
    assert "logged" in _tool_messages(third)
    calls = finished.sink.of("model_call")
    assert len(calls) == 3
    assert all(call["provider"] == "scripted" and call["status"] == "ok" for call in calls)


async def test_text_output_when_the_run_has_no_output_schema_in_a_sandbox_like_process(
    socket_dir: Path,
) -> None:
    run = scripted_run([{"text": "four"}], structured=False)

    finished = await run_in_runtime(socket_dir, run, isolated=True)

    assert finished.exit_code == 0, finished.stderr
    assert finished.sink.of("output") == [{"output": "four"}]
    assert "tools" in finished.model.bodies[0]  # only `log`: text is the way to finish
    assert [t["function"]["name"] for t in finished.model.bodies[0]["tools"]] == ["log"]


async def test_exhausted_turns_fail_the_run_with_a_clear_message(socket_dir: Path) -> None:
    run = scripted_run(
        [{"tool_calls": [{"name": "log", "arguments": {"level": "info", "message": "x"}}]}]
    )

    finished = await run_in_runtime(socket_dir, run)

    assert finished.exit_code == 1
    assert finished.sink.of("output") == []
    [error] = finished.sink.of("runtime_error")
    assert error["code"] == "model_error"
    assert "the scripted model has no turn 2: the agent scripts 1 turn(s)" in error["message"]
    assert [call["status"] for call in finished.sink.of("model_call")] == ["ok", "error"]
