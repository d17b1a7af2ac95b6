"""Reading a provider's answer within bounds: whole bodies, SSE lines, the usage of a stream.

An application's provider is any server the application names, and one process serves every
tenant's runs, so nothing here holds more of an answer than the bounds below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import orjson

from corral.runs.sidecar.model_errors import bad_response

MAX_ANSWER_BYTES = 32 * 1024 * 1024
MAX_SSE_LINE_BYTES = 1024 * 1024


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise bad_response("the provider's answer is not a JSON object")
    return answer


async def read_capped(response: httpx2.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for data in response.aiter_bytes():
        size += len(data)
        if size > MAX_ANSWER_BYTES:
            raise bad_response(f"the provider's answer is larger than {MAX_ANSWER_BYTES} bytes")
        parts.append(data)
    return b"".join(parts)


async def sse_lines(response: httpx2.Response) -> AsyncIterator[bytes]:
    pending = b""
    async for data in response.aiter_bytes():
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_SSE_LINE_BYTES:
            raise bad_response(
                f"a line of the provider's stream is over {MAX_SSE_LINE_BYTES} bytes"
            )
        for line in lines:
            yield line.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")


class UsageScanner:
    """Finds the usage chunk in a passed-through OpenAI stream without holding it back."""

    def __init__(self) -> None:
        self._pending = b""
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None
        self.done = False

    def scan(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_SSE_LINE_BYTES:
            # No usage chunk is that long; dropping the piece only bounds what is held.
            self._pending = b""
        for line in lines:
            if b'"usage"' in line or b'"error"' in line:
                self._read(line)
            elif line.startswith(b"data: [DONE]"):
                self.done = True

    def _read(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        try:
            chunk = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            return
        if isinstance(chunk, dict):
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
            if isinstance(chunk.get("error"), dict):
                self.error = str(chunk["error"].get("message", "provider stream error"))
