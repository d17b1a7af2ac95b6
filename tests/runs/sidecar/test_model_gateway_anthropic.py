"""The gateway in front of an Anthropic Messages provider, through a real local server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from corral.core.crypto import EncryptionKeyring
from corral.core.db import create_engine, create_sessionmaker
from corral.core.settings import SystemProvider
from corral.runs.sidecar.model_errors import ModelGatewayError
from corral.runs.sidecar.model_gateway import ProviderModelGateway, build_http_client
from corral.telemetry.cost import default_catalog
from tests.support.openai_server import LLMServer, Reply, serve_llm
from tests.support.sidecar_runs import RecordingSink, make_run

KEY = "sk-ant-system-secret"
MODEL = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve_llm() as server:
        yield server


@pytest.fixture
def server(llm: LLMServer) -> Iterator[LLMServer]:
    llm.reset()
    yield llm
    llm.reset()


@pytest.fixture
async def gateway(server: LLMServer, tmp_path: Path) -> AsyncIterator[ProviderModelGateway]:
    system = [
        SystemProvider.model_validate(
            {
                "id": "claude",
                "api": "anthropic-messages",
                "base_url": server.base_url,
                "api_key": KEY,
                "models": [MODEL],
            }
        )
    ]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    keyring = EncryptionKeyring((("k1", b"\x01" * 32),))
    async with build_http_client() as http:
        yield ProviderModelGateway(
            system, create_sessionmaker(engine), keyring, default_catalog(), http
        )
    await engine.dispose()


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Find a record.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Find corral."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q": "corral"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "toolu_1", "content": '{"found": true}'},
    {"role": "user", "content": [{"type": "text", "text": "And then?"}]},
]


async def test_the_conversation_is_translated_and_the_key_sent_as_x_api_key(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_text("Done.", input_tokens=1_000_000, output_tokens=0))
    body = {
        "model": MODEL,
        "messages": CONVERSATION,
        "tools": TOOLS,
        "tool_choice": "required",
        "max_tokens": 256,
        "temperature": 0.2,
        "stop": "END",
    }
    sink = RecordingSink()
    answer = await gateway.chat_completion(make_run("claude", MODEL), body, sink)
    (request,) = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.body == {
        "model": MODEL,
        "system": "Be brief.",
        "max_tokens": 256,
        "temperature": 0.2,
        "stop_sequences": ["END"],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Find corral."}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "lookup",
                        "input": {"q": "corral"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"found": true}'},
                    {"type": "text", "text": "And then?"},
                ],
            },
        ],
        "tools": [
            {
                "name": "lookup",
                "description": "Find a record.",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "any"},
    }
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Done."}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["prompt_tokens"] == 1_000_000
    (event,) = sink.of("model_call")
    assert (event["input_tokens"], event["output_tokens"], event["status"]) == (1_000_000, 0, "ok")
    # The vendored catalog prices claude-sonnet-4-5's input at 3 USD per million tokens.
    assert event["cost_usd"] == pytest.approx(3.0)


async def test_tool_use_comes_back_as_tool_calls(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_tool_calls([("lookup", {"q": "x"}), ("lookup", {"q": "y"})]))
    body = {"model": MODEL, "messages": CONVERSATION[:2], "tools": TOOLS}
    answer = await gateway.chat_completion(make_run("claude", MODEL), body, RecordingSink())
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["lookup", "lookup"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [{"q": "x"}, {"q": "y"}]
    assert all(c["id"].startswith("toolu_") and c["type"] == "function" for c in calls)
    assert server.requests[0].body["max_tokens"] == 4096


async def test_errors_come_back_in_openai_shape(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(
        Reply.of_error(
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    )
    with pytest.raises(ModelGatewayError) as failed:
        await gateway.chat_completion(
            make_run("claude", MODEL), {"messages": CONVERSATION[:2]}, RecordingSink()
        )
    assert failed.value.status == 529
    assert failed.value.body == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "code": None}
    }


def _chunks(raw: bytes) -> list[Any]:
    lines = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    return [line if line == b"[DONE]" else orjson.loads(line) for line in lines]


async def _stream(
    gateway: ProviderModelGateway, body: dict[str, Any], sink: RecordingSink
) -> bytes:
    run = make_run("claude", MODEL)
    return b"".join([c async for c in gateway.stream_chat_completion(run, body, sink)])


async def test_a_streamed_answer_becomes_openai_chunks(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_text("Hello from Claude", input_tokens=12, output_tokens=4))
    sink = RecordingSink()
    body = {
        "model": MODEL,
        "messages": CONVERSATION[:2],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = _chunks(await _stream(gateway, body, sink))
    assert server.requests[0].body["stream"] is True
    assert server.requests[0].headers["accept"] == "text/event-stream"
    assert chunks[-1] == b"[DONE]"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks[:-1])
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-2])
    assert text == "Hello from Claude"
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["choices"] == []
    assert chunks[-2]["usage"]["prompt_tokens"] == 12
    assert chunks[-2]["usage"]["completion_tokens"] == 4
    (event,) = sink.of("model_call")
    assert (event["input_tokens"], event["output_tokens"], event["stream"]) == (12, 4, True)


async def test_streamed_tool_use_becomes_tool_call_deltas(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_tool_calls([("lookup", {"q": "streamed"})]))
    sink = RecordingSink()
    body = {"model": MODEL, "messages": CONVERSATION[:2], "tools": TOOLS, "stream": True}
    chunks = _chunks(await _stream(gateway, body, sink))
    deltas = [
        call for chunk in chunks[:-1] for call in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert deltas[0]["id"].startswith("toolu_")
    assert deltas[0]["function"]["name"] == "lookup"
    assert {d["index"] for d in deltas} == {0}
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert orjson.loads(arguments) == {"q": "streamed"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    # Without include_usage the agent gets no usage chunk, but the call is still metered.
    assert not any("usage" in c for c in chunks[:-1])
    assert sink.of("model_call")[0]["output_tokens"] == 7


async def test_a_stream_cut_short_ends_with_an_error_chunk(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply(text="cut off here", cut_stream_after=4))
    sink = RecordingSink()
    body = {"model": MODEL, "messages": CONVERSATION[:2], "stream": True}
    chunks = _chunks(await _stream(gateway, body, sink))
    assert chunks[-1] == b"[DONE]"
    assert chunks[-2]["error"]["code"] == "provider_bad_response"
    assert sink.of("model_call")[0]["status"] == "error"
