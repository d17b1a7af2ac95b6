"""Content-Encoding handling for OTLP bodies, with a hard cap on the inflated size."""

from __future__ import annotations

import zlib

from corral.telemetry.errors import DecompressedTooLarge, MalformedPayload, UnsupportedEncoding

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})


def decompress(body: bytes, content_encoding: str | None, *, max_size: int) -> bytes:
    """Return the body decoded per `Content-Encoding`, never more than `max_size` bytes.

    Only `identity` and `gzip` are accepted (OTLP/HTTP requires no other). Inflation stops as
    soon as the output would pass `max_size`, so a zip bomb costs at most `max_size` bytes of
    memory before `DecompressedTooLarge` is raised.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        if len(body) > max_size:
            raise DecompressedTooLarge(f"body exceeds {max_size} bytes")
        return body
    if encoding not in _GZIP:
        raise UnsupportedEncoding(
            f"Content-Encoding {content_encoding!r} is not supported; use gzip or identity"
        )
    return _gunzip(body, max_size)


def _gunzip(body: bytes, max_size: int) -> bytes:
    out = bytearray()
    data = body
    # A gzip file may hold several members back to back (RFC 1952 §2.2); inflate each in turn.
    while True:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            out += inflater.decompress(data, max_size + 1 - len(out))
        except zlib.error as exc:
            raise MalformedPayload(f"gzip body is corrupt: {exc}") from None
        if len(out) > max_size:
            raise DecompressedTooLarge(f"gzip body inflates beyond {max_size} bytes")
        if not inflater.eof:
            raise MalformedPayload("gzip body is truncated")
        # Trailing NUL padding is tolerated, as Python's gzip module does.
        data = inflater.unused_data.lstrip(b"\x00")
        if not data:
            return bytes(out)
