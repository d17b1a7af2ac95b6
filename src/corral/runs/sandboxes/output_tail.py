"""The last bytes of a sandbox's output, kept while the output streams past."""

from __future__ import annotations

import asyncio

_CHUNK = 65_536


class OutputTail:
    """Keeps at most `limit` bytes: the newest."""

    def __init__(self, limit: int) -> None:
        self._limit = max(limit, 0)
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        if not self._limit:
            return
        self._buffer += data[-self._limit :]
        overflow = len(self._buffer) - self._limit
        if overflow > 0:
            del self._buffer[:overflow]

    def text(self) -> str:
        return self._buffer.decode("utf-8", errors="replace")


async def pump(stream: asyncio.StreamReader, tail: OutputTail) -> None:
    """Read `stream` to its end into `tail`, so the writer never blocks on a full pipe."""
    while chunk := await stream.read(_CHUNK):
        tail.feed(chunk)
