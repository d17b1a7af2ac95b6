"""A request shaped exactly as the OpenTelemetry Python OTLP/HTTP exporter sends it.

`opentelemetry-exporter-otlp-proto-http` is not installed here, so the request is built with
the proto classes the way its encoder does: spans grouped per resource then per scope, ids as
big-endian bytes of the SDK's integers, kind as the SDK enum value plus one, `flags` carrying
the W3C trace flags, `SerializePartialToString`, and a gzip stream written through `GzipFile`.
"""

from __future__ import annotations

import gzip
import hashlib
import io

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from corral.telemetry.decode import decode_request
from corral.telemetry.response import export_response
from tests.telemetry.otlp_builders import key_values

_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK = 0x100


def _sdk_id(seed: str, bits: int) -> int:
    """An id as the SDK's generator yields it: a plain int (deterministic here)."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[: bits // 8], "big")


def _exporter_body(seed: str) -> tuple[bytes, int, int]:
    trace_id = _sdk_id(seed, 128)
    root_id = _sdk_id(seed + "/root", 64)
    spans = []
    for index, (name, kind, parent) in enumerate(
        [
            ("invoke_agent support", 0, None),
            ("chat gpt-4o", 2, root_id),
            ("tool.search", 0, root_id),
        ]
    ):
        span_id = root_id if parent is None else _sdk_id(f"{seed}/{index}", 64)
        spans.append(
            Span(
                trace_id=trace_id.to_bytes(16, "big"),
                span_id=span_id.to_bytes(8, "big"),
                parent_span_id=parent.to_bytes(8, "big") if parent else b"",
                name=name,
                kind=kind + 1,  # type: ignore[arg-type]
                start_time_unix_nano=1_750_000_000_000_000_000 + index,
                end_time_unix_nano=1_750_000_000_100_000_000 + index,
                attributes=key_values({"gen_ai.agent.name": "support", "index": index}),
                status=Status(code=0),  # type: ignore[arg-type]
                flags=_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | 0x01,
            )
        )
    message = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=key_values({"service.name": "agents"})),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="corral_sdk", version="0.1.0"),
                        spans=spans,
                    )
                ],
            )
        ]
    )
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="w") as stream:
        stream.write(message.SerializePartialToString())
    return buffer.getvalue(), trace_id, root_id


def test_exporter_request_decodes_with_exporter_headers() -> None:
    body, trace_id, root_id = _exporter_body("a")

    batch = decode_request(
        body, content_type="application/x-protobuf", content_encoding="gzip", max_size=1 << 20
    )

    assert batch.rejected == {}
    assert [s["name"] for s in batch.spans] == [
        "invoke_agent support",
        "chat gpt-4o",
        "tool.search",
    ]
    assert {s["trace_id"] for s in batch.spans} == {f"{trace_id:032x}"}
    root, chat, _tool = batch.spans
    assert root["parent_span_id"] is None
    assert chat["parent_span_id"] == f"{root_id:016x}"
    assert chat["kind"] == 3
    assert chat["scope_name"] == "corral_sdk"
    assert chat["resource_attributes"] == {"service.name": "agents"}


def test_success_response_is_an_empty_protobuf_message() -> None:
    body, _, _ = _exporter_body("b")
    batch = decode_request(
        body, content_type="application/x-protobuf", content_encoding="gzip", max_size=1 << 20
    )
    assert export_response(batch, as_json=False) == b""
