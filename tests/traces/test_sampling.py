"""Sampling at ingest: deterministic per trace, and never dropping evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from corral.core.settings import Settings
from tests.clients import ApiClient
from tests.conftest import make_settings
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import metric_value, send_and_store, span_id, trace_id

SAMPLED_OUT = 'corral_ingest_spans_total{outcome="sampled_out"}'


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Sampling keeps no trace by rate: only what must be kept is."""
    return make_settings(
        tmp_path,
        database_url,
        telemetry={"sampling_rate": 0.0, "sampling_token_threshold": 1000},
    )


async def _stored_names(client: ApiClient, trace: bytes) -> set[str]:
    response = await client.get("/api/spans", params={"trace_id": trace.hex()})
    assert response.status_code == 200, response.text
    return {s["name"] for s in response.json()["data"]}


async def test_evidence_errors_and_expensive_calls_survive_a_zero_rate(
    writer: ApiClient, app: FastAPI
) -> None:
    trace = trace_id(7)
    spans = [
        otlp.span(name="plain", trace_id=trace, span_id=span_id(1)),
        otlp.span(
            name="failed",
            trace_id=trace,
            span_id=span_id(2),
            status_code=Status.STATUS_CODE_ERROR,
        ),
        otlp.span(
            name="blocked tool",
            trace_id=trace,
            span_id=span_id(3),
            attributes={"corral.decision.action": "block", "gen_ai.tool.name": "shell"},
        ),
        otlp.span(
            name="big call",
            trace_id=trace,
            span_id=span_id(4),
            attributes={"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 1},
        ),
        otlp.span(
            name="small call",
            trace_id=trace,
            span_id=span_id(5),
            attributes={"gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 100},
        ),
    ]
    await send_and_store(app, writer, spans)
    assert await _stored_names(writer, trace) == {"failed", "blocked tool", "big call"}
    assert await metric_value(writer, SAMPLED_OUT) == 2
    assert await metric_value(writer, 'corral_ingest_spans_total{outcome="accepted"}') == 3


async def test_the_application_rate_overrides_the_server_rate(
    writer: ApiClient, app: FastAPI
) -> None:
    response = await writer.patch("/api/settings/ingest", json={"sampling_rate": 1.0})
    assert response.status_code == 200, response.text
    assert response.json()["effective_sampling_rate"] == 1.0
    await send_and_store(app, writer, [otlp.span(name="kept", trace_id=trace_id(1))])
    assert await _stored_names(writer, trace_id(1)) == {"kept"}

    # Back to the server's rate (null), which keeps nothing by rate.
    response = await writer.patch("/api/settings/ingest", json={"sampling_rate": None})
    assert response.json()["effective_sampling_rate"] == 0.0
    await send_and_store(app, writer, [otlp.span(name="dropped", trace_id=trace_id(2))])
    assert await _stored_names(writer, trace_id(2)) == set()


async def test_a_trace_is_kept_or_dropped_whole_by_its_id(writer: ApiClient, app: FastAPI) -> None:
    assert (
        await writer.patch("/api/settings/ingest", json={"sampling_rate": 0.5})
    ).status_code == 200
    low, high = trace_id(2**62), trace_id(2**63 + 1)  # lower 64 bits below / above rate × 2⁶⁴
    spans = [
        otlp.span(name=f"{label}-{n}", trace_id=trace, span_id=span_id(n))
        for label, trace in (("low", low), ("high", high))
        for n in range(1, 4)
    ]
    await send_and_store(app, writer, spans)
    assert await _stored_names(writer, low) == {"low-1", "low-2", "low-3"}
    assert await _stored_names(writer, high) == set()
    # Sent again in separate requests, the decision is the same.
    await send_and_store(app, writer, [otlp.span(name="high-4", trace_id=high, span_id=span_id(4))])
    assert await _stored_names(writer, high) == set()
    assert await metric_value(writer, SAMPLED_OUT) == 4
