"""The model gateway against a real local OpenAI-compatible server: keys, models, metering."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from corral.core.crypto import EncryptionKeyring
from corral.core.db import create_engine, create_sessionmaker
from corral.core.settings import SystemProvider
from corral.runs.sidecar.contracts import ModelGateway
from corral.runs.sidecar.model_errors import ModelGatewayError
from corral.runs.sidecar.model_gateway import ProviderModelGateway, build_http_client
from corral.telemetry.cost import ModelPrice, PriceCatalog
from tests.support.openai_server import LLMServer, Reply, serve_llm
from tests.support.sidecar_runs import RecordingSink, make_run

SYSTEM_KEY = "sk-system-secret-for-the-gateway"
MODEL = "gpt-test"
CATALOG = PriceCatalog({MODEL: ModelPrice(Decimal(2), Decimal(8))}, ())


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
                "id": "local",
                "api": "openai-chat",
                "base_url": server.base_url,
                "api_key": SYSTEM_KEY,
                "models": [MODEL],
            }
        )
    ]
    # System providers never touch the database: an engine that is never connected.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    keyring = EncryptionKeyring((("k1", b"\x01" * 32),))
    async with build_http_client() as http:
        yield ProviderModelGateway(system, create_sessionmaker(engine), keyring, CATALOG, http)
    await engine.dispose()


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}


async def test_a_system_provider_is_called_with_its_bearer_key(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_text("hello there", input_tokens=1000, output_tokens=500))
    sink = RecordingSink()
    answer = await gateway.chat_completion(make_run("local", MODEL), chat(), sink)
    assert answer["choices"][0]["message"]["content"] == "hello there"
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SYSTEM_KEY}"
    assert request.body == chat()
    (event,) = sink.of("model_call")
    assert event["provider"] == "local"
    assert event["model"] == MODEL
    assert (event["input_tokens"], event["output_tokens"]) == (1000, 500)
    assert event["cost_usd"] == pytest.approx(0.006)
    assert event["status"] == "ok"
    assert event["stream"] is False
    assert event["started_at_ns"] <= event["ended_at_ns"]


async def test_tool_calls_come_back_unchanged(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_tool_calls([("lookup", {"q": "corral"})]))
    answer = await gateway.chat_completion(make_run("local", MODEL), chat(), RecordingSink())
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"q": "corral"}


async def test_only_the_manifest_model_may_be_called(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    sink = RecordingSink()
    with pytest.raises(ModelGatewayError) as refused:
        await gateway.chat_completion(make_run("local", MODEL), chat(model="gpt-big"), sink)
    assert refused.value.status == 400
    assert refused.value.body["error"]["code"] == "model_not_allowed"
    with pytest.raises(ModelGatewayError) as unoffered:
        await gateway.chat_completion(make_run("local", "other"), chat(model="other"), sink)
    assert unoffered.value.body["error"]["code"] == "model_not_offered"
    with pytest.raises(ModelGatewayError) as missing:
        await gateway.chat_completion(make_run("nowhere", MODEL), chat(), sink)
    assert (missing.value.status, missing.value.body["error"]["code"]) == (
        404,
        "provider_not_found",
    )
    assert server.requests == []
    assert [event["status"] for event in sink.of("model_call")] == ["error"] * 3
    assert "gpt-big" in sink.of("model_call")[0]["error"]


async def test_a_missing_model_field_means_the_manifest_model(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    body = chat()
    del body["model"]
    await gateway.chat_completion(make_run("local", MODEL), body, RecordingSink())
    assert server.requests[0].body["model"] == MODEL


async def test_provider_errors_keep_their_status_and_never_show_the_key(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(
        Reply.of_error(
            401,
            {"error": {"message": f"bad key {SYSTEM_KEY}", "type": "auth", "code": "bad_key"}},
        ),
        Reply.of_error(503, {"detail": "overloaded"}),
    )
    sink = RecordingSink()
    run = make_run("local", MODEL)
    with pytest.raises(ModelGatewayError) as unauthorized:
        await gateway.chat_completion(run, chat(), sink)
    assert unauthorized.value.status == 401
    assert unauthorized.value.body == {
        "error": {"message": "bad key [redacted]", "type": "auth", "code": "bad_key"}
    }
    with pytest.raises(ModelGatewayError) as unavailable:
        await gateway.chat_completion(run, chat(), sink)
    assert unavailable.value.status == 503
    assert unavailable.value.body["error"]["message"] == "provider answered 503"
    events = sink.of("model_call")
    assert [event["status"] for event in events] == ["error", "error"]
    assert SYSTEM_KEY not in repr(events)


async def test_an_unreachable_provider_is_a_bad_gateway(tmp_path: Path) -> None:
    system = [
        SystemProvider.model_validate(
            {
                "id": "gone",
                "api": "openai-chat",
                # A port nothing listens on: the connection is refused at once.
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": SYSTEM_KEY,
                "models": [MODEL],
            }
        )
    ]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    keyring = EncryptionKeyring((("k1", b"\x01" * 32),))
    sink = RecordingSink()
    async with build_http_client() as http:
        gateway = ProviderModelGateway(system, create_sessionmaker(engine), keyring, CATALOG, http)
        with pytest.raises(ModelGatewayError) as failed:
            await gateway.chat_completion(make_run("gone", MODEL), chat(), sink)
    await engine.dispose()
    assert failed.value.status == 502
    assert failed.value.body["error"]["code"] == "provider_unreachable"
    assert sink.of("model_call")[0]["status"] == "error"


def _data_lines(raw: bytes) -> list[Any]:
    lines = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    return [line if line == b"[DONE]" else orjson.loads(line) for line in lines]


async def test_streaming_passes_chunks_through_and_meters_the_usage_chunk(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_text("one two three", input_tokens=30, output_tokens=3))
    sink = RecordingSink()
    raw = b"".join(
        [
            chunk
            async for chunk in gateway.stream_chat_completion(
                make_run("local", MODEL), chat(stream=True), sink
            )
        ]
    )
    (request,) = server.requests
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.headers["authorization"] == f"Bearer {SYSTEM_KEY}"
    chunks = _data_lines(raw)
    assert chunks[-1] == b"[DONE]"
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"]
    )
    assert text == "one two three"
    assert chunks[-2]["usage"]["prompt_tokens"] == 30
    (event,) = sink.of("model_call")
    assert (event["input_tokens"], event["output_tokens"], event["stream"]) == (30, 3, True)
    assert event["status"] == "ok"
    assert event["cost_usd"] == pytest.approx((30 * 2 + 3 * 8) / 1_000_000)


async def test_a_refused_stream_raises_before_its_first_chunk(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_error(429, {"error": {"message": "slow down", "type": "rate"}}))
    sink = RecordingSink()
    stream = gateway.stream_chat_completion(make_run("local", MODEL), chat(stream=True), sink)
    with pytest.raises(ModelGatewayError) as refused:
        await anext(stream)
    assert refused.value.status == 429
    assert sink.of("model_call")[0]["error"] == "slow down"


async def test_list_models_names_the_manifest_model(gateway: ProviderModelGateway) -> None:
    # Typed as the sidecar's contract: mypy checks that the gateway implements it.
    contract: ModelGateway = gateway
    assert await contract.list_models(make_run("local", MODEL)) == [
        {"id": MODEL, "object": "model", "created": 0, "owned_by": "local"}
    ]


async def test_the_shared_client_pools_connections(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    run = make_run("local", MODEL)
    for _ in range(3):
        await gateway.chat_completion(run, chat(), RecordingSink())
    assert len(server.requests) == 3
    assert isinstance(build_http_client(), httpx2.AsyncClient)


async def test_a_stream_cut_short_ends_with_an_error_chunk(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply(text="never finished", cut_stream_after=2))
    sink = RecordingSink()
    stream = gateway.stream_chat_completion(make_run("local", MODEL), chat(stream=True), sink)
    chunks = _data_lines(b"".join([chunk async for chunk in stream]))
    assert chunks[-1] == b"[DONE]"
    assert chunks[-2]["error"]["code"] == "provider_bad_response"
    (event,) = sink.of("model_call")
    assert event["status"] == "error"
    assert "ended" in event["error"]


async def test_a_reader_that_stops_early_is_metered_as_interrupted(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    server.enqueue(Reply.of_text("a long answer in many words"))
    sink = RecordingSink()
    stream = gateway.stream_chat_completion(make_run("local", MODEL), chat(stream=True), sink)
    assert await anext(stream)
    await stream.aclose()
    (event,) = sink.of("model_call")
    assert (event["status"], event["error"]) == ("error", "interrupted")


async def test_a_stream_asked_of_the_plain_call_is_not_streamed(
    gateway: ProviderModelGateway, server: LLMServer
) -> None:
    body = chat(stream=True, stream_options={"include_usage": True})
    answer = await gateway.chat_completion(make_run("local", MODEL), body, RecordingSink())
    assert answer["object"] == "chat.completion"
    assert "stream" not in server.requests[0].body
    assert "stream_options" not in server.requests[0].body
