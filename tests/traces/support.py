"""Helpers for trace tests: send OTLP spans through the API and wait for them to be stored."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from corral.container import Container
from tests.clients import ApiClient
from tests.telemetry import otlp_builders as otlp

PROTOBUF = {"Content-Type": "application/x-protobuf"}
WRITER_SCOPES = ["traces:write", "traces:read", "settings:read", "settings:write"]


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


def trace_id(number: int) -> bytes:
    """A trace id whose lower 64 bits (what sampling reads) are `number`."""
    return b"\x01" * 8 + number.to_bytes(8, "big")


def span_id(number: int) -> bytes:
    return number.to_bytes(8, "big")


async def send(
    client: ApiClient,
    spans: Sequence[Span],
    *,
    resource: Mapping[str, Any] | None = None,
) -> None:
    body = otlp.request(spans, resource=resource).SerializeToString()
    response = await client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.text


async def flush(app: FastAPI) -> None:
    await asyncio.wait_for(container_of(app).ingest.flush(), 10)


async def send_and_store(
    app: FastAPI,
    client: ApiClient,
    spans: Sequence[Span],
    *,
    resource: Mapping[str, Any] | None = None,
) -> None:
    await send(client, spans, resource=resource)
    await flush(app)


async def metric_value(client: ApiClient, sample: str) -> float:
    """The value of one sample line of `/metrics` (e.g. `corral_x_total{a="b"}`), 0 if absent."""
    for line in (await client.get("/metrics")).text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return 0.0
