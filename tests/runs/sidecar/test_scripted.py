"""The scripted model provider, called directly."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from corral.core.errors import InvalidInput
from corral.runs.sidecar.contracts import ModelGateway
from corral.runs.sidecar.scripted import ScriptedModelGateway
from tests.runs.sidecar.run_fixtures import RecordingSink, scripted_run

TURNS: list[dict[str, Any]] = [
    {"tool_calls": [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]},
    {"text": "thinking out loud"},
    {"output": {"answer": 4}},
    {"output": [1, 2]},
]


def _conversation(assistant_turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for _ in range(assistant_turns):
        messages += [{"role": "assistant", "content": "..."}, {"role": "user", "content": "ok"}]
    return {"model": "whatever", "messages": messages}


def _message(completion: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = completion["choices"][0]["message"]
    return message


def test_it_is_a_model_gateway() -> None:
    gateway: ModelGateway = ScriptedModelGateway()
    assert gateway is not None


async def test_the_nth_completion_answers_the_nth_turn() -> None:
    gateway, sink, run = ScriptedModelGateway(), RecordingSink(), scripted_run(TURNS)

    first = await gateway.chat_completion(run, _conversation(0), sink)
    second = await gateway.chat_completion(run, _conversation(1), sink)
    third = await gateway.chat_completion(run, _conversation(2), sink)
    fourth = await gateway.chat_completion(run, _conversation(3), sink)
    again = await gateway.chat_completion(run, _conversation(0), sink)

    assert _message(first)["tool_calls"] == [
        {
            "id": "call_scripted_0_0",
            "type": "function",
            "function": {"name": "a", "arguments": '{"x":1}'},
        },
        {
            "id": "call_scripted_0_1",
            "type": "function",
            "function": {"name": "b", "arguments": "{}"},
        },
    ]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert _message(second) == {"role": "assistant", "content": "thinking out loud"}
    assert second["choices"][0]["finish_reason"] == "stop"
    [output_call] = _message(third)["tool_calls"]
    assert output_call["function"] == {"name": "output", "arguments": '{"answer":4}'}
    [wrapped_call] = _message(fourth)["tool_calls"]
    assert orjson.loads(wrapped_call["function"]["arguments"]) == {"value": [1, 2]}
    assert again == {**first, "created": again["created"]}


async def test_every_answer_is_labeled_scripted_and_metered_at_no_cost() -> None:
    gateway, sink, run = ScriptedModelGateway(), RecordingSink(), scripted_run(TURNS)

    completion = await gateway.chat_completion(run, _conversation(1), sink)

    assert completion["model"] == "scripted"
    assert completion["system_fingerprint"] == "corral-scripted"
    usage = completion["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [event] = sink.of("model_call")
    assert event["provider"] == event["model"] == "scripted"
    assert event["cost_usd"] == 0.0
    assert event["status"] == "ok"
    assert event["stream"] is False
    assert event["input_tokens"] == usage["prompt_tokens"]
    assert event["started_at_ns"] <= event["ended_at_ns"]
    assert await gateway.list_models(run) == [
        {"id": "scripted", "object": "model", "created": 0, "owned_by": "corral-scripted"}
    ]


async def test_exhausted_turns_raise_a_clear_error_and_record_a_failed_call() -> None:
    gateway, sink, run = ScriptedModelGateway(), RecordingSink(), scripted_run(TURNS[:1])

    with pytest.raises(InvalidInput, match="no turn 2: the agent scripts 1 turn") as caught:
        await gateway.chat_completion(run, _conversation(1), sink)

    assert caught.value.code == "scripted_turns_exhausted"
    [event] = sink.of("model_call")
    assert event["status"] == "error"
    assert "no turn 2" in event["error"]


async def test_streaming_sends_openai_chunks_then_done() -> None:
    gateway, sink, run = ScriptedModelGateway(), RecordingSink(), scripted_run(TURNS)
    body = {**_conversation(0), "stream": True, "stream_options": {"include_usage": True}}

    raw = b"".join([chunk async for chunk in gateway.stream_chat_completion(run, body, sink)])

    events = [event.removeprefix(b"data: ") for event in raw.split(b"\n\n") if event]
    assert events[-1] == b"[DONE]"
    chunks = [orjson.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    delta = chunks[0]["choices"][0]["delta"]
    assert delta["role"] == "assistant"
    assert [call["index"] for call in delta["tool_calls"]] == [0, 1]
    assert delta["tool_calls"][0]["function"]["name"] == "a"
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[2]["choices"] == []
    assert chunks[2]["usage"]["total_tokens"] > 0
    [event] = sink.of("model_call")
    assert event["stream"] is True


async def test_streaming_text_without_usage() -> None:
    gateway, sink, run = ScriptedModelGateway(), RecordingSink(), scripted_run(TURNS)
    body = {**_conversation(1), "stream": True}

    raw = b"".join([chunk async for chunk in gateway.stream_chat_completion(run, body, sink)])

    chunks = [
        orjson.loads(event.removeprefix(b"data: "))
        for event in raw.split(b"\n\n")
        if event and event != b"data: [DONE]"
    ]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "thinking out loud"}
    assert chunks[1]["choices"][0]["finish_reason"] == "stop"
    assert len(chunks) == 2


async def test_a_run_of_another_provider_is_refused() -> None:
    run = scripted_run(TURNS)
    model = run.manifest.model.model_copy(
        update={"provider": "openai", "name": "gpt", "turns": None}
    )
    other = dataclasses.replace(run, manifest=run.manifest.model_copy(update={"model": model}))

    with pytest.raises(InvalidInput, match="not scripted"):
        await ScriptedModelGateway().chat_completion(other, _conversation(0), RecordingSink())


async def test_messages_must_be_a_list() -> None:
    with pytest.raises(InvalidInput, match="messages"):
        await ScriptedModelGateway().chat_completion(
            scripted_run(TURNS), {"messages": "hi"}, RecordingSink()
        )
