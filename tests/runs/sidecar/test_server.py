"""The sidecar's endpoints, over a real unix socket."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from corral.core.errors import RateLimited
from corral.runs.sidecar.contracts import (
    ASSIGNMENT_PATH,
    ERROR_PATH,
    LOG_PATH,
    OUTPUT_PATH,
    TOOL_PATH_PREFIX,
    EventSink,
    SidecarRun,
    ToolOutcome,
)
from corral.runs.sidecar.http_io import MAX_BODY_BYTES
from corral.runs.sidecar.scripted import ScriptedModelGateway
from corral.runs.sidecar.server import SOCKET_DIR_MODE, SOCKET_MODE, Sidecar
from tests.runs.sidecar.run_fixtures import (
    FailingToolGateway,
    RecordingSink,
    ScriptedToolGateway,
    scripted_run,
    uds_client,
)

LOOKUP_TOOL = {
    "name": "lookup",
    "url": "https://example.test/lookup",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="corral-sc-", dir="/tmp"))
    yield parent / "sock"
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def tools() -> ScriptedToolGateway:
    return ScriptedToolGateway()


@pytest.fixture
async def sidecar(socket_dir: Path, tools: ScriptedToolGateway) -> AsyncIterator[Sidecar]:
    async with Sidecar(socket_dir, ScriptedModelGateway(), tools) as started:
        yield started


@pytest.fixture
async def client(sidecar: Sidecar) -> AsyncIterator[httpx2.AsyncClient]:
    async with uds_client(str(sidecar.socket_path)) as connected:
        yield connected


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def assigned(sidecar: Sidecar, sink: RecordingSink) -> SidecarRun:
    run = scripted_run(
        [{"tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}, {"output": {"a": 1}}],
        tools=[LOOKUP_TOOL],
    )
    sidecar.assign(run, sink)
    return run


def _error(response: httpx2.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", LOG_PATH),
        ("POST", OUTPUT_PATH),
        ("POST", ERROR_PATH),
        ("POST", TOOL_PATH_PREFIX + "lookup"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ],
)
async def test_every_endpoint_but_the_assignment_answers_409_before_a_run_is_assigned(
    client: httpx2.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={} if method == "POST" else None)

    assert response.status_code == 409
    assert _error(response)["code"] == "not_assigned"


async def test_the_assignment_poll_answers_204_until_assigned_then_the_assignment(
    sidecar: Sidecar, client: httpx2.AsyncClient, sink: RecordingSink
) -> None:
    assert (await client.get(ASSIGNMENT_PATH, params={"wait": "0"})).status_code == 204
    await sidecar.wait_runtime_ready()
    poll = asyncio.create_task(client.get(ASSIGNMENT_PATH, params={"wait": "60"}))
    run = scripted_run([{"text": "hi"}], tools=[LOOKUP_TOOL])

    sidecar.assign(run, sink)
    response = await poll

    assert response.status_code == 200
    assert response.json() == orjson.loads(orjson.dumps(dataclasses.asdict(run.assignment)))
    assert response.json()["tools"][0]["name"] == "lookup"
    again = await client.get(ASSIGNMENT_PATH)
    assert again.content == response.content
    assert sidecar.assigned
    with pytest.raises(RuntimeError):
        sidecar.assign(run, sink)


async def test_log_lines_become_log_events(
    client: httpx2.AsyncClient, assigned: SidecarRun, sink: RecordingSink
) -> None:
    response = await client.post(LOG_PATH, json={"level": "warning", "message": "careful"})
    bad = await client.post(LOG_PATH, json={"level": "loud", "message": "x"})

    assert response.status_code == 200
    assert sink.of("log") == [{"level": "warning", "message": "careful"}]
    assert bad.status_code == 400


async def test_the_output_is_emitted_once(
    client: httpx2.AsyncClient, assigned: SidecarRun, sink: RecordingSink
) -> None:
    first = await client.post(OUTPUT_PATH, json={"output": {"a": 1}})
    second = await client.post(OUTPUT_PATH, json={"output": {"a": 2}})
    late_error = await client.post(ERROR_PATH, json={"code": "x", "message": "y"})

    assert first.status_code == 200
    assert second.status_code == 409
    assert late_error.status_code == 409
    assert sink.events == [("output", {"output": {"a": 1}})]


async def test_a_runtime_error_is_emitted(
    client: httpx2.AsyncClient, assigned: SidecarRun, sink: RecordingSink
) -> None:
    response = await client.post(ERROR_PATH, json={"code": "model_error", "message": "boom"})

    assert response.status_code == 200
    assert sink.of("runtime_error") == [{"code": "model_error", "message": "boom"}]


async def test_a_tool_call_goes_to_the_tool_gateway(
    client: httpx2.AsyncClient, assigned: SidecarRun, tools: ScriptedToolGateway
) -> None:
    tools.outcomes["lookup"] = ToolOutcome(status="refused", message="blocked by policy p1")

    response = await client.post(TOOL_PATH_PREFIX + "lookup", json={"arguments": {"q": "x"}})

    assert response.json() == {
        "status": "refused",
        "result": None,
        "message": "blocked by policy p1",
    }
    assert tools.calls == [("lookup", {"q": "x"})]


@pytest.mark.parametrize("name", ["unknown", "output", "log"])
async def test_a_tool_that_is_not_assigned_is_refused_without_reaching_the_gateway(
    client: httpx2.AsyncClient,
    assigned: SidecarRun,
    tools: ScriptedToolGateway,
    sink: RecordingSink,
    name: str,
) -> None:
    response = await client.post(TOOL_PATH_PREFIX + name, json={"arguments": {}})

    assert response.json()["status"] == "refused"
    assert tools.calls == []
    assert sink.of("log")[0]["level"] == "warning"


async def test_tool_arguments_must_be_an_object(
    client: httpx2.AsyncClient, assigned: SidecarRun
) -> None:
    response = await client.post(TOOL_PATH_PREFIX + "lookup", json={"arguments": [1]})

    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_arguments"


async def test_a_failing_tool_gateway_answers_an_error_without_its_details(
    socket_dir: Path, sink: RecordingSink
) -> None:
    async with Sidecar(socket_dir, ScriptedModelGateway(), FailingToolGateway()) as sidecar:
        sidecar.assign(scripted_run([{"text": "x"}], tools=[LOOKUP_TOOL]), sink)
        async with uds_client(str(sidecar.socket_path)) as client:
            response = await client.post(TOOL_PATH_PREFIX + "lookup", json={"arguments": {}})

    assert response.status_code == 200
    assert response.json()["status"] == "error"
    assert "secret" not in response.text


async def test_a_chat_completion_answers_from_the_model_gateway(
    client: httpx2.AsyncClient, assigned: SidecarRun, sink: RecordingSink
) -> None:
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}

    response = await client.post("/v1/chat/completions", json=body)
    other_model = await client.post("/v1/chat/completions", json={**body, "model": "gpt-big"})

    assert response.status_code == 200
    completion = response.json()
    assert completion["model"] == "scripted"
    assert completion["system_fingerprint"] == "corral-scripted"
    [call] = completion["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "lookup", "arguments": '{"q":"x"}'}
    assert [event["stream"] for event in sink.of("model_call")] == [False]
    assert other_model.status_code == 400
    assert _error(other_model)["code"] == "model_not_assigned"


async def test_a_streamed_chat_completion_through_the_openai_client(
    client: httpx2.AsyncClient, assigned: SidecarRun, sink: RecordingSink
) -> None:
    from openai import AsyncOpenAI

    openai = AsyncOpenAI(
        base_url="http://sidecar/v1", api_key="unused", http_client=client, max_retries=0
    )
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "calling"},
    ]

    stream = await openai.chat.completions.create(
        model="scripted",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    deltas = [choice.delta for chunk in chunks for choice in chunk.choices]
    [tool_call] = [call for delta in deltas for call in delta.tool_calls or []]
    assert tool_call.function is not None
    assert tool_call.function.name == "output"
    assert orjson.loads(tool_call.function.arguments or "") == {"a": 1}
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    assert {chunk.model for chunk in chunks} == {"scripted"}
    assert [event["stream"] for event in sink.of("model_call")] == [True]


async def test_a_stream_that_fails_before_its_first_chunk_answers_an_http_error(
    client: httpx2.AsyncClient, assigned: SidecarRun
) -> None:
    assistant = {"role": "assistant", "content": "x"}
    body = {"model": "scripted", "stream": True, "messages": [assistant, assistant]}

    response = await client.post("/v1/chat/completions", json=body)

    assert response.status_code == 400
    assert _error(response)["code"] == "scripted_turns_exhausted"


class _ShapedError(Exception):
    """How the model gateway fails: the provider's status and an OpenAI-shaped, key-free body."""

    def __init__(self) -> None:
        super().__init__("upstream overloaded")
        self.status = 529
        self.body = {"error": {"message": "overloaded", "type": "provider_error", "code": "busy"}}


class _FlakyModelGateway:
    """Fails in the ways a provider gateway can: mid-stream, rate limited, or crashing."""

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        del run
        raise RuntimeError("sk-live-secret in a provider's exception")

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        del run, sink
        if body["messages"]:
            raise _ShapedError
        raise RateLimited("the provider is rate limited", retry_after_seconds=1)

    async def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        del run, body, sink
        yield b'data: {"choices": []}\n\n'
        raise RuntimeError("sk-live-secret in a provider's exception")


async def test_gateway_failures_reach_the_sandbox_in_openai_error_shape_without_details(
    socket_dir: Path, sink: RecordingSink
) -> None:
    async with Sidecar(socket_dir, _FlakyModelGateway(), ScriptedToolGateway()) as sidecar:
        sidecar.assign(scripted_run([{"text": "x"}]), sink)
        async with uds_client(str(sidecar.socket_path)) as client:
            body = {"model": "scripted", "messages": []}
            limited = await client.post("/v1/chat/completions", json=body)
            models = await client.get("/v1/models")
            user = {"role": "user", "content": "hi"}
            shaped = await client.post("/v1/chat/completions", json={**body, "messages": [user]})
            streamed = await client.post("/v1/chat/completions", json={**body, "stream": True})

    assert limited.status_code == 429
    assert _error(limited)["code"] == "rate_limited"
    assert shaped.status_code == 529
    assert _error(shaped) == {
        "message": "overloaded",
        "type": "provider_error",
        "code": "busy",
        "param": None,
    }
    assert models.status_code == 502
    assert "secret" not in models.text
    assert streamed.status_code == 200
    events = [line for line in streamed.text.split("\n\n") if line]
    assert events[0] == 'data: {"choices": []}'
    assert orjson.loads(events[1].removeprefix("data: "))["error"]["code"] == "gateway_failed"
    assert "secret" not in streamed.text


async def test_the_models_list(client: httpx2.AsyncClient, assigned: SidecarRun) -> None:
    response = await client.get("/v1/models")

    assert response.json() == {
        "object": "list",
        "data": [
            {"id": "scripted", "object": "model", "created": 0, "owned_by": "corral-scripted"}
        ],
    }


async def test_bodies_are_bounded(client: httpx2.AsyncClient, assigned: SidecarRun) -> None:
    message = "x" * (MAX_BODY_BYTES + 1)

    response = await client.post(LOG_PATH, json={"level": "info", "message": message})

    assert response.status_code == 413


async def test_bad_requests_answer_in_openai_error_shape(
    client: httpx2.AsyncClient, assigned: SidecarRun
) -> None:
    not_json = await client.post("/v1/chat/completions", content=b"{nope")
    not_object = await client.post("/v1/chat/completions", json=[1])
    unknown = await client.get("/v2/anything")
    wrong_method = await client.get("/v1/chat/completions")

    assert (not_json.status_code, _error(not_json)["code"]) == (400, "invalid_json")
    assert (not_object.status_code, _error(not_object)["code"]) == (400, "invalid_json")
    assert (unknown.status_code, _error(unknown)["code"]) == (404, "not_found")
    assert (wrong_method.status_code, _error(wrong_method)["code"]) == (405, "method_not_allowed")


async def test_the_socket_is_reachable_by_another_uid_only_through_its_directory(
    sidecar: Sidecar,
) -> None:
    assert stat.S_IMODE(os.stat(sidecar.socket_dir).st_mode) == SOCKET_DIR_MODE
    assert stat.S_IMODE(os.stat(sidecar.socket_path).st_mode) == SOCKET_MODE
    assert stat.S_ISSOCK(os.stat(sidecar.socket_path).st_mode)


async def test_close_ends_a_pending_poll_and_removes_the_socket(socket_dir: Path) -> None:
    sidecar = Sidecar(socket_dir, ScriptedModelGateway(), ScriptedToolGateway())
    await sidecar.start()
    with pytest.raises(RuntimeError):
        await sidecar.start()
    async with uds_client(str(sidecar.socket_path)) as client:
        poll = asyncio.create_task(client.get(ASSIGNMENT_PATH, params={"wait": "60"}))
        await sidecar.wait_runtime_ready()

        await sidecar.close()

        assert (await poll).status_code == 503
        assert not sidecar.socket_path.exists()
        with pytest.raises(httpx2.ConnectError):
            await client.get(ASSIGNMENT_PATH, params={"wait": "0"})
    await sidecar.close()


class _StuckToolGateway:
    """A tool call that never ends, as one waiting for an approval nobody gives."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def call(
        self, run: SidecarRun, tool: str, arguments: dict[str, Any], sink: EventSink
    ) -> ToolOutcome:
        del run, tool, arguments, sink
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_close_answers_a_call_in_flight_without_a_server_error(
    socket_dir: Path, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    tools = _StuckToolGateway()
    sidecar = Sidecar(socket_dir, ScriptedModelGateway(), tools)
    await sidecar.start()
    sidecar.assign(scripted_run([{"text": "x"}], tools=[LOOKUP_TOOL]), sink)
    async with uds_client(str(sidecar.socket_path)) as client:
        call = asyncio.create_task(client.post(TOOL_PATH_PREFIX + "lookup", json={"arguments": {}}))
        await tools.entered.wait()

        await sidecar.close(grace_seconds=0)

        response = await call
    assert response.status_code == 503
    assert _error(response)["code"] == "closing"
    assert [r for r in caplog.records if r.name.startswith("uvicorn")] == []


def test_a_socket_path_too_long_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too long"):
        Sidecar(tmp_path / ("d" * 120), ScriptedModelGateway(), ScriptedToolGateway())


class _EndlessModelGateway:
    """Streams until the sidecar stops reading; records that its stream was closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        del run
        return []

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        del run, body, sink
        return {}

    async def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        del run, body, sink
        try:
            while True:
                yield b'data: {"choices": []}\n\n'
                await asyncio.sleep(0)
        finally:
            self.closed.set()


async def test_a_stream_whose_client_went_away_is_closed_upstream(
    socket_dir: Path, sink: RecordingSink
) -> None:
    gateway = _EndlessModelGateway()
    async with Sidecar(socket_dir, gateway, ScriptedToolGateway()) as sidecar:
        sidecar.assign(scripted_run([{"text": "x"}]), sink)
        async with uds_client(str(sidecar.socket_path)) as client:
            body = {"model": "scripted", "messages": [], "stream": True}
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                await anext(response.aiter_bytes())

        await gateway.closed.wait()
