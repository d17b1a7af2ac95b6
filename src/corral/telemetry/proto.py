"""Typed boundary around the generated OTLP protobuf classes.

`protobuf` ships no type information, so its messages reach the rest of the package as `Any`
through this one module instead of spreading ignores across the code.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

__all__ = ["DecodeError", "encode_export_response", "parse_export_request"]


def parse_export_request(body: bytes) -> Any:
    """Parse an `ExportTraceServiceRequest`; raises `DecodeError` on a corrupt body."""
    return trace_service_pb2.ExportTraceServiceRequest.FromString(body)


def encode_export_response(rejected_spans: int, error_message: str) -> bytes:
    """Serialize an `ExportTraceServiceResponse`, with `partial_success` only when needed."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    data: bytes = response.SerializeToString()
    return data
