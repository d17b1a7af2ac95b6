"""Build OTLP export requests with the real opentelemetry-proto classes, and their JSON twin."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")
START = 1_700_000_000_000_000_000
END = START + 1_500_000


def any_value(value: Any) -> AnyValue:
    """Encode a Python value the way the OpenTelemetry SDK's exporter does."""
    out = AnyValue()
    if value is None:
        return out
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, Mapping):
        out.kvlist_value.values.extend(key_values(value))
    elif isinstance(value, Sequence):
        out.array_value.values.extend(any_value(v) for v in value)
    else:
        raise TypeError(f"cannot encode {value!r}")
    return out


def key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def span(
    *,
    name: str = "chat gpt-4o",
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    parent_span_id: bytes = b"",
    attributes: Mapping[str, Any] | None = None,
    kind: int = Span.SPAN_KIND_CLIENT,
    start: int = START,
    end: int = END,
    status_code: int = Status.STATUS_CODE_UNSET,
    status_message: str = "",
    events: Sequence[tuple[str, int, Mapping[str, Any]]] = (),
    links: Sequence[tuple[bytes, bytes, Mapping[str, Any]]] = (),
    trace_state: str = "",
) -> Span:
    out = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        trace_state=trace_state,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=key_values(attributes or {}),
        status=Status(code=status_code, message=status_message),  # type: ignore[arg-type]
    )
    for event_name, time, event_attrs in events:
        out.events.add(name=event_name, time_unix_nano=time, attributes=key_values(event_attrs))
    for link_trace, link_span, link_attrs in links:
        out.links.add(trace_id=link_trace, span_id=link_span, attributes=key_values(link_attrs))
    return out


def request(
    spans: Sequence[Span],
    *,
    resource: Mapping[str, Any] | None = None,
    scope: tuple[str, str] = ("corral.tests", "1.0"),
) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(key_values(resource or {"service.name": "svc"}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = scope
    scope_spans.spans.extend(spans)
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def to_otlp_json(message: ExportTraceServiceRequest) -> dict[str, Any]:
    """The OTLP/JSON form of a request: protobuf JSON mapping, but hex ids and integer enums."""
    doc: dict[str, Any] = MessageToDict(message, use_integers_for_enums=True)
    for resource_spans in doc.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for item in scope_spans.get("spans", []):
                _hex_ids(item)
                for link in item.get("links", []):
                    _hex_ids(link)
    return doc


def _hex_ids(obj: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()
