"""The runtime's run loop, in this process, against a real sidecar socket.

The end-to-end tests start the runtime as its own process; here the same code runs in the test's
event loop, which makes the rarer paths cheap to check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_ai.exceptions import ModelHTTPError

from corral.runs.sidecar.contracts import AssignedTool, EventSink, SidecarRun, ToolOutcome
from corral.runs.sidecar.scripted import ScriptedModelGateway
from corral.runs.sidecar.server import Sidecar
from corral.runtime.assignment import Assignment
from corral.runtime.main import EXIT_OK, EXIT_RUN_FAILED, classify, serve
from tests.runs.sidecar.run_fixtures import RecordingSink, ScriptedToolGateway, scripted_run


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="corral-rm-", dir="/tmp"))
    yield parent / "sock"
    shutil.rmtree(parent, ignore_errors=True)


class StuckToolGateway:
    """A tool call that never ends, as one waiting for an approval nobody gives."""

    async def call(
        self, run: SidecarRun, tool: str, arguments: dict[str, Any], sink: EventSink
    ) -> ToolOutcome:
        del run, tool, arguments, sink
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def _serve(socket_dir: Path, run: SidecarRun, tools: Any = None) -> tuple[int, RecordingSink]:
    sink = RecordingSink()
    async with Sidecar(socket_dir, ScriptedModelGateway(), tools or ScriptedToolGateway()) as sc:
        runtime = asyncio.create_task(serve(str(sc.socket_path)))
        await sc.wait_runtime_ready()
        sc.assign(run, sink)
        exit_code = await runtime
    return exit_code, sink


async def test_an_output_schema_that_is_not_an_object_travels_wrapped(socket_dir: Path) -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    run = scripted_run([{"output": [1, 2, 3]}], output_schema=schema)

    exit_code, sink = await _serve(socket_dir, run)

    assert exit_code == EXIT_OK
    assert sink.of("output") == [{"output": [1, 2, 3]}]


async def test_a_tool_named_like_a_built_in_fails_the_run(socket_dir: Path) -> None:
    # Manifests refuse the name; the runtime does not count on it.
    run = scripted_run([{"text": "x"}])
    log_tool = AssignedTool(name="log", description="", parameters={"type": "object"})
    assignment = dataclasses.replace(run.assignment, tools=(log_tool,))
    run = dataclasses.replace(run, assignment=assignment)

    exit_code, sink = await _serve(socket_dir, run)

    assert exit_code == EXIT_RUN_FAILED
    [error] = sink.of("runtime_error")
    assert error["code"] == "invalid_assignment"
    assert "'log' is reserved" in error["message"]


async def test_the_runtime_stops_itself_after_the_run_timeout(socket_dir: Path) -> None:
    run = scripted_run(
        [{"tool_calls": [{"name": "wait", "arguments": {}}]}],
        tools=[{"name": "wait", "url": "https://example.test/"}],
    )
    run = _with_timeout(run, 1)

    exit_code, sink = await _serve(socket_dir, run, StuckToolGateway())

    assert exit_code == EXIT_RUN_FAILED
    assert [error["code"] for error in sink.of("runtime_error")] == ["timeout"]


def _with_timeout(run: SidecarRun, seconds: int) -> SidecarRun:
    assignment = dataclasses.replace(run.assignment, timeout_seconds=seconds)
    return dataclasses.replace(run, assignment=assignment)


def test_failures_are_classified_with_a_stable_code() -> None:
    http_error = ModelHTTPError(
        400, "scripted", {"error": {"message": "no turn 3", "code": "scripted_turns_exhausted"}}
    )
    try:
        Assignment.model_validate({"run_id": "r"})
    except ValidationError as exc:
        invalid = exc

    assert classify(http_error) == ("model_error", "the model call failed (HTTP 400): no turn 3")
    assert (
        classify(ModelHTTPError(502, "m", "bad gateway"))[1] == "the model call failed (HTTP 502)"
    )
    assert classify(TimeoutError())[0] == "timeout"
    assert classify(invalid)[0] == "invalid_assignment"
    assert classify(ValueError("odd")) == ("runtime_crashed", "ValueError: odd")
