"""Reading requests and writing responses on the sidecar's bare ASGI app.

The sidecar answers one sandbox over a unix socket and sits on every model call, so it speaks
ASGI directly instead of through a framework: a route table, bounded bodies, OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 4 * 1024 * 1024
_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
]


class HTTPProblem(Exception):
    """An answer other than success, in OpenAI's error shape."""

    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind


def error_body(code: str, message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}


def _too_large() -> HTTPProblem:
    return HTTPProblem(413, "payload_too_large", f"bodies are at most {MAX_BODY_BYTES} bytes")


async def read_body(scope: Scope, receive: Receive) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise HTTPProblem(
                413, "payload_too_large", f"bodies are at most {MAX_BODY_BYTES} bytes"
            )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPProblem(400, "client_disconnected", "the client went away")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPProblem(
                413, "payload_too_large", f"bodies are at most {MAX_BODY_BYTES} bytes"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_json_object(scope: Scope, receive: Receive) -> dict[str, Any]:
    raw = await read_body(scope, receive)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HTTPProblem(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise HTTPProblem(400, "invalid_json", "the body must be a JSON object")
    return value


async def send_json(send: Send, status: int, body: Any) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_empty(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def send_problem(send: Send, problem: HTTPProblem) -> None:
    await send_json(send, problem.status, error_body(problem.code, problem.message, problem.kind))


async def send_event_stream(send: Send, receive: Receive, chunks: AsyncIterator[bytes]) -> None:
    """Streams server-sent events; an error after the first byte becomes an `error` event.

    Stops reading `chunks` once the client is gone, so its owner can close the upstream stream.
    """
    iterator = aiter(chunks)
    # The first chunk is awaited before the status line, so an error before the stream starts
    # still gets its own HTTP status.
    first = await anext(iterator, None)
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    if first is None:
        await send({"type": "http.response.body", "body": b""})
        return
    disconnected = asyncio.ensure_future(_disconnect(receive))
    try:
        await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in iterator:
            if disconnected.done():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except HTTPProblem as problem:
        await send(_error_event(problem.code, problem.message, problem.kind))
    finally:
        disconnected.cancel()
    await send({"type": "http.response.body", "body": b""})


async def _disconnect(receive: Receive) -> None:
    # The request body is already read: the next message is the disconnect.
    while (await receive())["type"] != "http.disconnect":
        pass


def _error_event(code: str, message: str, kind: str) -> Message:
    payload = orjson.dumps(error_body(code, message, kind))
    return {"type": "http.response.body", "body": b"data: " + payload + b"\n\n", "more_body": True}
