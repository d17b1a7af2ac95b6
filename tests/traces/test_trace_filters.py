"""`GET /api/traces` filters: time range and cost, beside agent, status and end-user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from tests.clients import ApiClient
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import send_and_store, trace_id

SECOND = 1_000_000_000


def _trace(number: int, seconds: int, input_tokens: int) -> Any:
    return otlp.span(
        name=f"t{number}",
        trace_id=trace_id(number),
        start=otlp.START + seconds * SECOND,
        end=otlp.START + seconds * SECOND + 10,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",  # 2.50 USD per million input tokens
            "gen_ai.usage.input_tokens": input_tokens,
            "corral.end_user.id": f"user-{number % 2}",
        },
    )


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(otlp.START / SECOND + seconds, UTC).isoformat()


async def _roots(client: ApiClient, **params: Any) -> list[str]:
    response = await client.get("/api/traces", params=params)
    assert response.status_code == 200, response.text
    return sorted(t["root_name"] for t in response.json()["data"])


async def test_time_range_and_cost(writer: ApiClient, app: FastAPI) -> None:
    # Costs: t1 0.25 USD, t2 2.50 USD, t3 25 USD.
    spans = [_trace(1, 10, 100_000), _trace(2, 20, 1_000_000), _trace(3, 30, 10_000_000)]
    await send_and_store(app, writer, spans)
    assert await _roots(writer) == ["t1", "t2", "t3"]
    assert await _roots(writer, since=_iso(20)) == ["t2", "t3"]
    assert await _roots(writer, until=_iso(20)) == ["t1"]
    assert await _roots(writer, since=_iso(11), until=_iso(30)) == ["t2"]
    assert await _roots(writer, min_cost="2.5") == ["t2", "t3"]
    assert await _roots(writer, max_cost="2.5") == ["t1", "t2"]
    assert await _roots(writer, min_cost=1, max_cost=3) == ["t2"]
    assert await _roots(writer, end_user="user-1") == ["t1", "t3"]
    assert await _roots(writer, end_user="user-1", min_cost=1) == ["t3"]
    # A naive time is read as UTC.
    naive = datetime.fromtimestamp(otlp.START / SECOND + 20, UTC).replace(tzinfo=None)
    assert await _roots(writer, since=naive.isoformat()) == ["t2", "t3"]
    assert (await writer.get("/api/traces", params={"min_cost": -1})).status_code == 422
    assert (await writer.get("/api/traces", params={"since": "yesterday"})).status_code == 422
