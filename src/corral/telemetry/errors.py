"""Errors raised while reading an OTLP export request."""

from __future__ import annotations

from corral.core.errors import InvalidInput, PayloadTooLarge


class MalformedPayload(InvalidInput):
    """The body is not a valid OTLP `ExportTraceServiceRequest` in the announced encoding."""

    code = "malformed_payload"
    title = "Malformed OTLP payload"


class UnsupportedEncoding(InvalidInput):
    """The request names a content encoding or media type that ingest does not speak."""

    code = "unsupported_encoding"
    title = "Unsupported encoding"


class DecompressedTooLarge(PayloadTooLarge):
    """The body inflates beyond the configured cap (for example a zip bomb)."""

    code = "decompressed_payload_too_large"
    title = "Decompressed payload too large"
