"""The `scripted` model provider: deterministic turns defined with the agent, no model at all.

`"model": {"provider": "scripted", "turns": [...]}`. The answer to a chat completion is the turn
numbered by how many assistant messages the conversation already holds, so the Nth completion of
a run answers turn N, a retried request gets the same answer, and the gateway keeps no state (one
instance serves any number of sidecars). Every answer says it is scripted: `model: "scripted"`,
`system_fingerprint: "corral-scripted"`, provider `scripted` in the `model_call` events.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from corral.core.errors import InvalidInput
from corral.runs.sidecar.contracts import EventSink, SidecarRun

SCRIPTED = "scripted"
FINGERPRINT = "corral-scripted"
OUTPUT_TOOL = "output"
# A tool's arguments are an object: the runtime wraps an output that is not one under this key.
WRAPPED_OUTPUT_KEY = "value"
# The estimate every scripted call reports: one token per four bytes of JSON.
_BYTES_PER_TOKEN = 4


def _tokens(value: Any) -> int:
    return math.ceil(len(orjson.dumps(value)) / _BYTES_PER_TOKEN)


def _turns(run: SidecarRun) -> list[dict[str, Any]]:
    turns = run.manifest.model.turns
    if run.manifest.model.provider != SCRIPTED or turns is None:
        raise InvalidInput("this run's model is not scripted", code="not_scripted")
    return turns


def _messages(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidInput("`messages` must be a list", code="invalid_messages")
    return messages


def _turn_number(messages: list[Any]) -> int:
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")


def _arguments_json(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return orjson.dumps({} if arguments is None else arguments).decode()


def _tool_call(number: int, index: int, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "id": f"call_scripted_{number}_{index}",
        "type": "function",
        "function": {"name": name, "arguments": _arguments_json(arguments)},
    }


def assistant_message(turn: dict[str, Any], number: int) -> tuple[dict[str, Any], str]:
    """The assistant message a turn scripts, and its finish reason."""
    if "text" in turn:
        return {"role": "assistant", "content": str(turn["text"])}, "stop"
    if "output" in turn:
        output = turn["output"]
        arguments = output if isinstance(output, dict) else {WRAPPED_OUTPUT_KEY: output}
        calls = [_tool_call(number, 0, OUTPUT_TOOL, arguments)]
    else:
        calls = [
            _tool_call(number, index, str(call.get("name", "")), call.get("arguments"))
            for index, call in enumerate(turn.get("tool_calls") or [])
            if isinstance(call, dict)
        ]
    return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"


class ScriptedModelGateway:
    """A `ModelGateway` answering from the run's scripted turns."""

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:  # noqa: ARG002
        return [{"id": SCRIPTED, "object": "model", "created": 0, "owned_by": FINGERPRINT}]

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        started = time.time_ns()
        messages = _messages(body)
        number = _turn_number(messages)
        turn = await self._turn(run, number, messages, started, sink, stream=False)
        message, finish_reason = assistant_message(turn, number)
        usage = _usage(messages, message)
        await _emit(sink, started, usage, stream=False)
        return {
            "id": _completion_id(run, number),
            "object": "chat.completion",
            "created": started // 1_000_000_000,
            "model": SCRIPTED,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": usage,
        }

    async def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        started = time.time_ns()
        messages = _messages(body)
        number = _turn_number(messages)
        turn = await self._turn(run, number, messages, started, sink, stream=True)
        message, finish_reason = assistant_message(turn, number)
        usage = _usage(messages, message)
        base = {
            "id": _completion_id(run, number),
            "object": "chat.completion.chunk",
            "created": started // 1_000_000_000,
            "model": SCRIPTED,
            "system_fingerprint": FINGERPRINT,
        }
        delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
        if "tool_calls" in message:
            delta["tool_calls"] = [
                {"index": index, **call} for index, call in enumerate(message["tool_calls"])
            ]
        yield _event({**base, "choices": [_choice(delta, None)]})
        yield _event({**base, "choices": [_choice({}, finish_reason)]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            yield _event({**base, "choices": [], "usage": usage})
        await _emit(sink, started, usage, stream=True)
        yield b"data: [DONE]\n\n"

    @staticmethod
    async def _turn(
        run: SidecarRun,
        number: int,
        messages: list[Any],
        started: int,
        sink: EventSink,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        turns = _turns(run)
        if number < len(turns):
            return turns[number]
        usage = _usage(messages, None)
        message = (
            f"the scripted model has no turn {number + 1}: the agent scripts {len(turns)} turn(s)"
        )
        await _emit(sink, started, usage, stream=stream, error=message)
        raise InvalidInput(message, code="scripted_turns_exhausted")


def _completion_id(run: SidecarRun, number: int) -> str:
    return f"chatcmpl-scripted-{run.run_id}-{number + 1}"


def _usage(messages: list[Any], message: dict[str, Any] | None) -> dict[str, int]:
    prompt = _tokens(messages)
    completion = 0 if message is None else _tokens(message)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _choice(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


def _event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _emit(
    sink: EventSink,
    started: int,
    usage: dict[str, int],
    *,
    stream: bool,
    error: str | None = None,
) -> None:
    data: dict[str, Any] = {
        "provider": SCRIPTED,
        "model": SCRIPTED,
        "started_at_ns": started,
        "ended_at_ns": time.time_ns(),
        "input_tokens": usage["prompt_tokens"],
        "output_tokens": usage["completion_tokens"],
        "cost_usd": 0.0,
        "status": "ok" if error is None else "error",
        "stream": stream,
    }
    if error is not None:
        data["error"] = error
    await sink.emit("model_call", data)
