"""A real local LLM server for tests and benchmarks: OpenAI chat and Anthropic Messages APIs.

It serves `POST {base_url}/chat/completions`, `GET {base_url}/models` and
`POST {base_url}/messages` over HTTP on 127.0.0.1, answering each call with the next scripted
`Reply` (or `default_reply` once the script is used up), streaming when the request asks, and
recording every request (headers, body) for assertions. Never a mock of our code: the gateway
under test talks to it over real sockets, as it would to a provider.

    def test_x(llm_server: LLMServer) -> None:
        llm_server.enqueue(Reply.of_text("hello"), Reply.of_tool_calls([("lookup", {"q": "x"})]))
        ...  # point a provider's base_url at llm_server.base_url
        assert llm_server.requests[0].headers["authorization"] == "Bearer sk-…"

Use the `llm_server` fixture (re-export it from a conftest with
`from tests.support.openai_server import llm_server as llm_server`), or `serve_llm()` directly.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

API_PREFIX = "/v1"
_STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answers to one call: text, tool calls, or an error status and body."""

    text: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    input_tokens: int = 11
    output_tokens: int = 7
    error_status: int | None = None
    error_body: dict[str, Any] | None = None
    # Streamed answers only: end the stream after this many SSE events, as a dropped
    # connection would (no `[DONE]`, no `message_stop`).
    cut_stream_after: int | None = None

    @classmethod
    def of_text(cls, text: str, *, input_tokens: int = 11, output_tokens: int = 7) -> Reply:
        return cls(text=text, input_tokens=input_tokens, output_tokens=output_tokens)

    @classmethod
    def of_tool_calls(
        cls,
        calls: list[tuple[str, dict[str, Any]]],
        *,
        input_tokens: int = 11,
        output_tokens: int = 7,
    ) -> Reply:
        return cls(
            tool_calls=tuple(ScriptedToolCall(n, a) for n, a in calls),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    @classmethod
    def of_error(cls, status: int, body: dict[str, Any] | None = None) -> Reply:
        return cls(error_status=status, error_body=body)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class LLMServer:
    """The scripted state shared with the server thread; `base_url` ends in `/v1`."""

    base_url: str = ""
    default_reply: Reply = field(default_factory=lambda: Reply.of_text("ok"))
    _replies: deque[Reply] = field(default_factory=deque)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self._requests.clear()
        self.default_reply = Reply.of_text("ok")

    def _take(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            return self._replies.popleft() if self._replies else self.default_reply

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def _chunks(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


# --- OpenAI chat completions ---------------------------------------------------------------


def _openai_message(reply: Reply, call_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{call_id}_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    return message


def _openai_usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def _openai_stream(reply: Reply, model: str, call_id: str, usage: bool) -> Iterator[bytes]:
    base = {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    for piece in _chunks(reply.text or "") if reply.text else []:
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        arguments = orjson.dumps(call.arguments).decode()
        head = {"id": f"call_{call_id}_{index}", "type": "function"}
        function = {"name": call.name, "arguments": ""}
        yield chunk({"tool_calls": [{"index": index, **head, "function": function}]})
        half = len(arguments) // 2
        for part in (arguments[:half], arguments[half:]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if usage:
        yield _sse({**base, "choices": [], "usage": _openai_usage(reply)})
    yield b"data: [DONE]\n\n"


async def _record(server: LLMServer, request: Request) -> tuple[Reply, Any]:
    raw = await request.body()
    body = orjson.loads(raw) if raw else None
    recorded = RecordedRequest(
        request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}, body
    )
    return server._take(recorded), body


def _error(reply: Reply, kind: str) -> Response:
    status = reply.error_status or 500
    default = (
        {"error": {"message": "scripted failure", "type": "server_error", "code": None}}
        if kind == "openai"
        else {"type": "error", "error": {"type": "api_error", "message": "scripted failure"}}
    )
    return JSONResponse(reply.error_body or default, status_code=status)


def _openai_routes(server: LLMServer) -> list[Route]:
    async def chat(request: Request) -> Response:
        reply, body = await _record(server, request)
        if reply.error_status is not None:
            return _error(reply, "openai")
        call_id = str(server._next_id())
        model = body.get("model", "")
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _iterate(_openai_stream(reply, model, call_id, usage), reply.cut_stream_after),
                media_type="text/event-stream",
            )
        finish = "tool_calls" if reply.tool_calls else "stop"
        return JSONResponse(
            {
                "id": f"chatcmpl-{call_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": _openai_message(reply, call_id),
                        "finish_reason": finish,
                    }
                ],
                "usage": _openai_usage(reply),
            }
        )

    async def models(request: Request) -> Response:
        await _record(server, request)
        return JSONResponse({"object": "list", "data": []})

    return [
        Route(f"{API_PREFIX}/chat/completions", chat, methods=["POST"]),
        Route(f"{API_PREFIX}/models", models, methods=["GET"]),
    ]


async def _iterate(chunks: Iterator[bytes], cut_after: int | None) -> AsyncIterator[bytes]:
    for count, item in enumerate(chunks):
        if cut_after is not None and count >= cut_after:
            return
        yield item


# --- Anthropic Messages --------------------------------------------------------------------


def _anthropic_content(reply: Reply, call_id: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for index, call in enumerate(reply.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{call_id}_{index}",
                "name": call.name,
                "input": call.arguments,
            }
        )
    return content


def _anthropic_stream(reply: Reply, model: str, call_id: str) -> Iterator[bytes]:
    message: dict[str, Any] = {
        "id": f"msg_{call_id}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
    }
    yield _sse({"type": "message_start", "message": message}, "message_start")
    yield _sse({"type": "ping"}, "ping")
    for index, block in enumerate(_anthropic_content(reply, call_id)):
        start: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _chunks(block["text"])]
        else:
            start = {**block, "input": {}}
            arguments = orjson.dumps(block["input"]).decode()
            half = len(arguments) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": part}
                for part in ("", arguments[:half], arguments[half:])
            ]
        yield _sse(
            {"type": "content_block_start", "index": index, "content_block": start},
            "content_block_start",
        )
        for delta in deltas:
            yield _sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
    stop = "tool_use" if reply.tool_calls else "end_turn"
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


def _anthropic_routes(server: LLMServer) -> list[Route]:
    async def messages(request: Request) -> Response:
        reply, body = await _record(server, request)
        if reply.error_status is not None:
            return _error(reply, "anthropic")
        call_id = str(server._next_id())
        model = body.get("model", "")
        if body.get("stream"):
            return StreamingResponse(
                _iterate(_anthropic_stream(reply, model, call_id), reply.cut_stream_after),
                media_type="text/event-stream",
            )
        return JSONResponse(
            {
                "id": f"msg_{call_id}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": _anthropic_content(reply, call_id),
                "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": reply.input_tokens,
                    "output_tokens": reply.output_tokens,
                },
            }
        )

    return [Route(f"{API_PREFIX}/messages", messages, methods=["POST"])]


@contextmanager
def serve_llm() -> Iterator[LLMServer]:
    """Start the server on a free 127.0.0.1 port for the duration of the block."""
    state = LLMServer()
    app = Starlette(routes=[*_openai_routes(state), *_anthropic_routes(state)])
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # protocol says TCP, and with Nagle on, a response written in two parts waits for the
    # client's delayed ACK (~40 ms), which would swamp any latency measured against it.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the LLM test server did not start; see the captured log")
        time.sleep(0.01)
    state.base_url = f"http://127.0.0.1:{port}{API_PREFIX}"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(_STARTUP_TIMEOUT_SECONDS)
        listener.close()


@pytest.fixture(scope="session")
def _llm_server_process() -> Iterator[LLMServer]:
    with serve_llm() as server:
        yield server


@pytest.fixture
def llm_server(_llm_server_process: LLMServer) -> Iterator[LLMServer]:
    """The session's LLM server with an empty script and no recorded requests."""
    _llm_server_process.reset()
    yield _llm_server_process
    _llm_server_process.reset()


def main() -> None:
    """`python -m tests.support.openai_server`: serve until interrupted, printing the base URL.

    For benchmarks that want the LLM server in a process of its own; it answers every call with
    the default reply.
    """
    with serve_llm() as server:
        print(server.base_url, flush=True)  # noqa: T201
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
