"""Cost at ingest: overrides over the catalog, and unknown models counted, never guessed."""

from __future__ import annotations

from decimal import Decimal

from fastapi import FastAPI
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.clients import ApiClient
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import metric_value, send_and_store, span_id


def _call(number: int, model: str, provider: str | None = "openai") -> Span:
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 1_000_000,
        "gen_ai.usage.output_tokens": 500_000,
    }
    if provider is not None:
        attributes["gen_ai.provider.name"] = provider
    return otlp.span(name=f"call {number}", span_id=span_id(number), attributes=attributes)


async def _costs(client: ApiClient) -> dict[str, Decimal | None]:
    spans = (await client.get(f"/api/traces/{otlp.TRACE_ID.hex()}")).json()["spans"]
    return {s["name"]: None if s["cost_usd"] is None else Decimal(s["cost_usd"]) for s in spans}


async def test_the_override_prices_spans_from_the_next_export(
    writer: ApiClient, app: FastAPI
) -> None:
    await send_and_store(app, writer, [_call(1, "gpt-4o")])
    put = await writer.put("/api/prices/gpt-4o", json={"input": "1", "output": "2"})
    assert put.status_code == 200, put.text
    await send_and_store(app, writer, [_call(2, "openai/gpt-4o-2024-08-06")])
    costs = await _costs(writer)
    assert costs["call 1"] == Decimal("7.5")  # catalog: 2.50 + 0.5 × 10.00
    assert costs["call 2"] == Decimal("2")  # override: 1 + 0.5 × 2
    trace = (await writer.get(f"/api/traces/{otlp.TRACE_ID.hex()}")).json()
    assert Decimal(trace["cost_usd"]) == Decimal("9.5")


async def test_unknown_models_cost_null_and_are_counted_by_provider(
    writer: ApiClient, app: FastAPI
) -> None:
    spans = [
        _call(1, "gpt-9-ultra"),
        _call(2, "secret-model", provider="my-gateway-123"),
        _call(3, "mystery", provider=None),
        _call(4, "gpt-4o"),
    ]
    await send_and_store(app, writer, spans)
    costs = await _costs(writer)
    assert costs["call 1"] is costs["call 2"] is costs["call 3"] is None
    assert costs["call 4"] is not None
    metric = "corral_ingest_unknown_model_total"
    assert await metric_value(writer, f'{metric}{{provider="openai"}}') == 1
    assert await metric_value(writer, f'{metric}{{provider="other"}}') == 1
    assert await metric_value(writer, f'{metric}{{provider="none"}}') == 1
    text = (await writer.get("/metrics")).text
    assert "gpt-9-ultra" not in text
    assert "my-gateway-123" not in text
