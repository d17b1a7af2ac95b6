"""`/metrics` for ingest: queue depth and spans by outcome, including refusals under load."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from corral.telemetry.ingest_queue import IngestQueue
from tests.clients import ApiClient
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import (
    PROTOBUF,
    container_of,
    flush,
    metric_value,
    send_and_store,
    span_id,
    trace_id,
)


def _outcome(name: str) -> str:
    return f'corral_ingest_spans_total{{outcome="{name}"}}'


async def test_outcomes_and_a_full_queue(writer: ApiClient, app: FastAPI) -> None:
    assert (
        await writer.patch("/api/settings/ingest", json={"sampling_rate": 0.5})
    ).status_code == 200
    kept, sampled = trace_id(1), trace_id(2**63 + 1)
    body = otlp.request(
        [
            otlp.span(name="kept", trace_id=kept, span_id=span_id(1)),
            otlp.span(name="sampled out", trace_id=sampled, span_id=span_id(2)),
            otlp.span(name="invalid", trace_id=kept, span_id=b"\x01"),
        ]
    ).SerializeToString()

    async def never(_: list[Any]) -> None:
        raise AssertionError("a queue that is never started writes nothing")

    container = container_of(app)
    real = container.ingest
    full: IngestQueue[Any] = IngestQueue(never, max_items=1)
    full.offer([object()])
    container.ingest = full
    try:
        refused = await writer.post("/v1/traces", content=body, headers=PROTOBUF)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "ingest_queue_full"
        assert await metric_value(writer, "corral_ingest_queue_depth") == 1
        assert await metric_value(writer, _outcome("dropped")) == 1
    finally:
        container.ingest = real
    # A refused request counts nothing as sampled out or rejected: its retry is counted instead.
    assert await metric_value(writer, _outcome("sampled_out")) == 0
    assert full.rejected == 0

    accepted = await writer.post("/v1/traces", content=body, headers=PROTOBUF)
    assert accepted.status_code == 200
    await flush(app)
    assert await metric_value(writer, "corral_ingest_queue_depth") == 0
    assert await metric_value(writer, _outcome("accepted")) == 1
    assert await metric_value(writer, _outcome("rejected")) == 1  # the accepted request's
    assert await metric_value(writer, _outcome("sampled_out")) == 1
    assert await metric_value(writer, _outcome("dropped")) == 0  # the real queue's count


async def test_redactions_are_counted_by_detector(writer: ApiClient, app: FastAPI) -> None:
    await writer.patch(
        "/api/settings/ingest", json={"redaction": {"key_actions": {"user.secret-key": "redact"}}}
    )
    attributes = {"mail": "jane@example.com", "user.secret-key": "x", "other": "bob@example.org"}
    await send_and_store(app, writer, [otlp.span(attributes=attributes)])
    family = "corral_ingest_redactions_total"
    assert await metric_value(writer, f'{family}{{detector="email"}}') == 2
    assert await metric_value(writer, f'{family}{{detector="key_action"}}') == 1
    assert "user.secret-key" not in (await writer.get("/metrics")).text
