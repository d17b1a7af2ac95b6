"""Realistic OTLP/protobuf trace export bodies for the ingest benchmark.

Each body is a real `ExportTraceServiceRequest` (the opentelemetry-proto classes the exporters
use): one resource (service, agent, end-user), one instrumentation scope, and traces of an
agent span with model calls and tool calls under it. Span attributes are about 1 KB of GenAI
semantic-convention keys: prompt and completion text on model spans, JSON arguments and results
on tool spans. One span in `SECRET_EVERY` carries credentials and an e-mail address that
redaction must replace.

Building protobuf messages is costly in Python, so one template request is built up front and
each body only gets fresh trace ids, span ids and timestamps before it is serialized: every
body holds new spans (nothing is deduplicated away) at a small client cost.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SPANS_PER_TRACE = 8
SECRET_EVERY = 20
"""One span in this many carries secrets."""
FAKE_OPENAI_KEY = "sk-proj-" + "Q" * 20 + "T3BlbkFJ" + "w" * 24
FAKE_AWS_KEY_ID = "AKIA" + "ABCDEFGHIJKLMNOP"
FAKE_EMAIL = "jane.doe@example.com"
SECRETS = (FAKE_OPENAI_KEY, FAKE_AWS_KEY_ID, FAKE_EMAIL)

_PROMPT = (
    "You are a support agent for an online shop. Answer using the order history and the "
    "return policy below; cite the order number and keep the answer short. Customer message: "
    "my parcel arrived damaged and two items are missing, can I get a refund for the whole "
    "order or only for the missing items? I paid by card and I would like the money back on "
    "the same card if possible. Order history: three orders in the last month, the most "
    "recent one shipped on Tuesday with tracking number 1Z999AA10123456784."
)
_COMPLETION = (
    "I am sorry about the damaged parcel. For order 48213 you can get a full refund for the "
    "two missing items, and for the damaged ones once you send a photo. The refund goes back "
    "to the card you paid with within five business days."
)
_TOOL_ARGS = (
    '{"order_id": "48213", "customer_id": "cus_93812", "items": ['
    '{"sku": "SKU-1029-BLK", "qty": 1, "reason": "missing"}, '
    '{"sku": "SKU-2231-RED", "qty": 2, "reason": "missing"}, '
    '{"sku": "SKU-7781-XL", "qty": 1, "reason": "damaged", "photo": "uploads/9f1c2e.jpg"}], '
    '"refund_method": "original_payment", "notify": true, "notes": "customer reported the box '
    'was crushed on one side; carrier claim to be opened by the warehouse team"}'
)
_TOOL_RESULT = (
    '{"refund_id": "re_88123", "status": "pending", "amount": {"value": 129.97, "currency": '
    '"EUR"}, "eta_days": 5, "carrier_claim": {"id": "cl_5512", "opened": true}, "items": 3}'
)
_SECRET_ARGS = (
    f'{{"url": "https://api.example.com/v1/refunds", "headers": {{"Authorization": "Bearer '
    f'{FAKE_OPENAI_KEY}"}}, "aws_key": "{FAKE_AWS_KEY_ID}", "contact": "{FAKE_EMAIL}"}}'
)


def _any_value(value: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    else:
        out.string_value = str(value)
    return out


def _key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in attrs.items()]


def _model_attributes(index: int) -> dict[str, Any]:
    model = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5")[index % 3]
    provider = "anthropic" if model.startswith("claude") else "openai"
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 1024,
        "gen_ai.response.id": f"chatcmpl-{index:08d}",
        "gen_ai.response.finish_reasons": "stop",
        "gen_ai.usage.input_tokens": 812 + index,
        "gen_ai.usage.output_tokens": 164 + index % 50,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": _PROMPT,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": _COMPLETION,
        "server.address": "api.openai.com",
    }


def _tool_attributes(index: int, *, secret: bool) -> dict[str, Any]:
    tool = ("refund_order", "lookup_order", "open_carrier_claim")[index % 3]
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": f"call_{index:012d}",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.arguments": _SECRET_ARGS if secret else _TOOL_ARGS,
        "gen_ai.tool.call.result": _TOOL_RESULT + _TOOL_RESULT[: 200 + index % 100],
        "corral.agent.name": "support-agent",
    }


def _span(position: int, parent: int | None) -> Span:
    if position % SPANS_PER_TRACE == 0:
        name, attrs, kind = (
            "invoke_agent support-agent",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-agent"},
            Span.SPAN_KIND_INTERNAL,
        )
        # The agent span carries the conversation, as frameworks record it.
        attrs["gen_ai.input.messages"] = _PROMPT + " " + _COMPLETION
    elif position % 2:
        name, attrs, kind = "chat", _model_attributes(position), Span.SPAN_KIND_CLIENT
        name = f"chat {attrs['gen_ai.request.model']}"
    else:
        secret = position % SECRET_EVERY == SECRET_EVERY - 2
        attrs, kind = _tool_attributes(position, secret=secret), Span.SPAN_KIND_INTERNAL
        name = f"execute_tool {attrs['gen_ai.tool.name']}"
    span = Span(name=name, kind=kind, attributes=_key_values(attrs))
    span.status.code = Status.STATUS_CODE_OK
    if parent is not None:
        span.parent_span_id = parent.to_bytes(8, "big")  # replaced per body; marks "has parent"
    return span


class PayloadFactory:
    """Serialized export requests of `spans_per_request` new spans each."""

    def __init__(self, spans_per_request: int, *, tenant: str = "bench") -> None:
        if spans_per_request < 1:
            raise ValueError("spans_per_request must be positive")
        self.spans_per_request = spans_per_request
        self._request = ExportTraceServiceRequest()
        resource_spans = self._request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            _key_values(
                {
                    "service.name": "support-agent",
                    "service.version": "1.4.2",
                    "deployment.environment": "production",
                    "corral.end_user.id": f"{tenant}-user-42",
                    "telemetry.sdk.name": "opentelemetry",
                    "telemetry.sdk.language": "python",
                }
            )
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "opentelemetry.instrumentation.openai_v2"
        scope_spans.scope.version = "2.1b0"
        scope_spans.spans.extend(
            _span(i, None if i % SPANS_PER_TRACE == 0 else 1) for i in range(spans_per_request)
        )
        self._spans = list(scope_spans.spans)
        self._counter = itertools.count()
        self.secret_spans = sum(
            1 for i in range(spans_per_request) if i % SECRET_EVERY == SECRET_EVERY - 2
        )

    def body(self) -> bytes:
        """The next request: new trace and span ids, timestamps of now."""
        count = len(self._spans)
        random_ids = os.urandom(8 * count + 8 * (count // SPANS_PER_TRACE + 1))
        now = time.time_ns()
        trace_id = b""
        root = b""
        for i, span in enumerate(self._spans):
            span_id = random_ids[8 * i : 8 * i + 8]
            if i % SPANS_PER_TRACE == 0:
                slot = 8 * count + 8 * (i // SPANS_PER_TRACE)
                # The lower 64 bits are random (what sampling reads); the upper count bodies.
                trace_id = next(self._counter).to_bytes(8, "big") + random_ids[slot : slot + 8]
                root = span_id
            else:
                span.parent_span_id = root
            span.trace_id = trace_id
            span.span_id = span_id
            start = now - (count - i) * 2_000_000
            span.start_time_unix_nano = start
            span.end_time_unix_nano = start + 1_500_000
        data: bytes = self._request.SerializeToString()
        return data


def attribute_bytes(factory: PayloadFactory) -> float:
    """Mean serialized size of the span attributes of one body, in bytes."""
    request = ExportTraceServiceRequest.FromString(factory.body())
    spans = request.resource_spans[0].scope_spans[0].spans
    total: int = sum(kv.ByteSize() for span in spans for kv in span.attributes)
    return total / len(spans)
