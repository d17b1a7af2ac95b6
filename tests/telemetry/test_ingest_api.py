"""`POST /v1/traces` end to end: decode, store, query back; limits, errors and tenancy."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from corral.api.app import create_app
from corral.container import Container
from corral.telemetry.ingest_queue import IngestQueue, QueueFull
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.telemetry import otlp_builders as otlp
from tests.telemetry.test_exporter_request import _exporter_body

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
FAKE_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3
TRACE_HEX = otlp.TRACE_ID.hex()


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


def _spans(**attributes: Any) -> bytes:
    root = otlp.span(name="agent run", attributes={"gen_ai.agent.name": "planner", **attributes})
    child = otlp.span(
        name="chat gpt-4o",
        span_id=bytes.fromhex("00000000000000a1"),
        parent_span_id=otlp.SPAN_ID,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 50,
        },
        status_code=Status.STATUS_CODE_ERROR,
        status_message="boom\x00",
    )
    body: bytes = otlp.request([root, child]).SerializeToString()
    return body


@pytest.fixture
async def writer(owner: ApiClient, app: FastAPI) -> AsyncIterator[ApiClient]:
    key = await owner.create_key(["traces:write", "traces:read"])
    async with asgi_client(app, token=key["key"]) as c:
        yield c


async def _flush(app: FastAPI) -> None:
    await asyncio.wait_for(_container(app).ingest.flush(), 10)


async def test_protobuf_ingest_then_query(writer: ApiClient, app: FastAPI) -> None:
    response = await writer.post("/v1/traces", content=_spans(), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")
    await _flush(app)

    listing = await writer.get("/api/traces")
    assert listing.status_code == 200, listing.text
    [trace] = listing.json()["data"]
    assert trace["trace_id"] == TRACE_HEX
    assert trace["span_count"] == 2
    assert trace["error_count"] == 1
    assert trace["root_name"] == "agent run"
    assert trace["agent_name"] == "planner"
    assert trace["input_tokens"] == 100

    detail = await writer.get(f"/api/traces/{TRACE_HEX}")
    assert detail.status_code == 200, detail.text
    spans = detail.json()["spans"]
    assert {s["name"] for s in spans} == {"agent run", "chat gpt-4o"}
    llm = next(s for s in spans if s["category"] == "llm")
    assert llm["model"] == "gpt-4o"
    assert llm["status"] == "error"
    assert "\x00" not in llm["status_message"]
    assert llm["cost_usd"] is not None

    # Filters, and re-sending the same spans does not double-count them.
    assert (await writer.post("/v1/traces", content=_spans(), headers=PROTOBUF)).status_code == 200
    await _flush(app)
    assert (await writer.get(f"/api/traces/{TRACE_HEX}")).json()["span_count"] == 2
    assert len((await writer.get("/api/traces?status=error")).json()["data"]) == 1
    assert (await writer.get("/api/traces?status=ok")).json()["data"] == []
    assert (await writer.get("/api/traces?agent=nobody")).json()["data"] == []


async def test_json_and_gzip_ingest(writer: ApiClient, app: FastAPI) -> None:
    doc = otlp.to_otlp_json(otlp.request([otlp.span(name="json span")]))
    response = await writer.post("/v1/traces", content=orjson.dumps(doc), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}

    other = otlp.request([otlp.span(name="gzip span", trace_id=b"\x02" * 16)])
    response = await writer.post(
        "/v1/traces",
        content=gzip.compress(other.SerializeToString()),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    await _flush(app)
    names = {t["root_name"] for t in (await writer.get("/api/traces")).json()["data"]}
    assert names == {"json span", "gzip span"}


async def test_exporter_shaped_request(writer: ApiClient, app: FastAPI) -> None:
    """Headers and body exactly as `opentelemetry-exporter-otlp-proto-http` sends them."""
    body, trace_id, _ = _exporter_body("http")
    response = await writer.post(
        "/v1/traces",
        content=body,
        headers={
            **PROTOBUF,
            "Content-Encoding": "gzip",
            "User-Agent": "OTel-OTLP-Exporter-Python/1.30.0",
        },
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    await _flush(app)
    detail = (await writer.get(f"/api/traces/{trace_id:032x}")).json()
    assert detail["span_count"] == 3
    assert detail["root_name"] == "invoke_agent support"
    assert detail["agent_name"] == "support"


async def test_scope_is_enforced(owner: ApiClient, app: FastAPI) -> None:
    key = await owner.create_key(["traces:read"])
    async with asgi_client(app, token=key["key"]) as reader:
        response = await reader.post("/v1/traces", content=_spans(), headers=PROTOBUF)
    assert response.status_code == 403
    async with asgi_client(app) as anonymous:
        response = await anonymous.post("/v1/traces", content=_spans(), headers=PROTOBUF)
    assert response.status_code == 401


async def test_malformed_and_unsupported(writer: ApiClient) -> None:
    response = await writer.post("/v1/traces", content=b"\xff\xff\xff", headers=PROTOBUF)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_payload"
    response = await writer.post("/v1/traces", content=b"{not json", headers=JSON)
    assert response.status_code == 400
    response = await writer.post("/v1/traces", content=b"x", headers={"Content-Type": "text/xml"})
    assert response.status_code == 415
    response = await writer.post(
        "/v1/traces", content=_spans(), headers={**PROTOBUF, "Content-Encoding": "br"}
    )
    assert response.status_code == 415


async def test_oversized_body(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, otlp_max_body_bytes=2048)
    application = create_app(settings)
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        await c.register("big@example.com", org="Big")
        key = await c.create_key(["traces:write"])
        async with asgi_client(application, token=key["key"]) as w:
            response = await w.post("/v1/traces", content=b"\x00" * 4096, headers=PROTOBUF)
            assert response.status_code == 413
            bomb = gzip.compress(b"\x00" * (2048 * 8 + 1))
            response = await w.post(
                "/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}
            )
            assert response.status_code == 413


async def test_partial_success_on_bad_span_ids(writer: ApiClient, app: FastAPI) -> None:
    good = otlp.span(name="good")
    bad = otlp.span(name="bad", span_id=b"\x01\x02")
    message = otlp.request([good, bad]).SerializeToString()
    response = await writer.post("/v1/traces", content=message, headers=PROTOBUF)
    assert response.status_code == 200, response.text
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 1
    assert "span_id" in parsed.partial_success.error_message
    await _flush(app)
    detail = (await writer.get(f"/api/traces/{TRACE_HEX}")).json()
    assert [s["name"] for s in detail["spans"]] == ["good"]
    assert _container(app).ingest.rejected == 1


async def test_queue_full_answers_503(writer: ApiClient, app: FastAPI) -> None:
    async def never(_: list[Any]) -> None:
        raise AssertionError("not started")

    container = _container(app)
    real = container.ingest
    container.ingest = IngestQueue(never, max_items=1)  # never started: nothing drains it
    try:
        response = await writer.post("/v1/traces", content=_spans(), headers=PROTOBUF)
    finally:
        container.ingest = real
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "ingest_queue_full"


async def test_queue_is_bounded_and_flushes() -> None:
    written: list[int] = []

    async def sink(items: list[int]) -> None:
        written.extend(items)

    queue: IngestQueue[int] = IngestQueue(sink, max_items=3, batch_size=2)
    queue.offer([1, 2, 3])
    with pytest.raises(QueueFull):
        queue.offer([4])
    assert (queue.depth, queue.accepted, queue.dropped) == (3, 3, 1)
    queue.start()
    await asyncio.wait_for(queue.flush(), 5)
    assert written == [1, 2, 3]
    queue.offer([5])
    await queue.stop()
    assert written == [1, 2, 3, 5]


async def test_other_tenants_cannot_read(
    writer: ApiClient, stranger: ApiClient, owner: ApiClient, app: FastAPI
) -> None:
    assert (await writer.post("/v1/traces", content=_spans(), headers=PROTOBUF)).status_code == 200
    await _flush(app)
    assert (await stranger.get(f"/api/traces/{TRACE_HEX}")).status_code == 404
    assert (await stranger.get("/api/traces")).json()["data"] == []

    # The same trace id in another application stays a separate trace.
    other_key = await stranger.create_key(["traces:write", "traces:read"])
    async with asgi_client(app, token=other_key["key"]) as other:
        message = otlp.request([otlp.span(name="theirs")]).SerializeToString()
        assert (
            await other.post("/v1/traces", content=message, headers=PROTOBUF)
        ).status_code == 200
        await _flush(app)
        theirs = (await other.get(f"/api/traces/{TRACE_HEX}")).json()
    assert [s["name"] for s in theirs["spans"]] == ["theirs"]
    ours = (await owner.get(f"/api/traces/{TRACE_HEX}")).json()
    assert ours["span_count"] == 2


async def test_redaction_is_applied(writer: ApiClient, app: FastAPI) -> None:
    body = _spans(**{"llm.input": f"use key {FAKE_KEY} please"})
    assert (await writer.post("/v1/traces", content=body, headers=PROTOBUF)).status_code == 200
    await _flush(app)
    detail = await writer.get(f"/api/traces/{TRACE_HEX}")
    assert FAKE_KEY not in detail.text
    root = next(s for s in detail.json()["spans"] if s["name"] == "agent run")
    assert "use key" in root["attributes"]["llm.input"]


async def test_nul_is_never_stored(writer: ApiClient, app: FastAPI) -> None:
    message = otlp.request(
        [otlp.span(name="nul\x00name", attributes={"k\x00ey": "va\x00lue", "list": ["a\x00"]})],
        resource={"service.name": "svc\x00"},
    )
    response = await writer.post(
        "/v1/traces", content=message.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200, response.text
    await _flush(app)
    assert _container(app).ingest.write_failures == 0
    detail = await writer.get(f"/api/traces/{TRACE_HEX}")
    assert detail.status_code == 200, detail.text
    assert "\\u0000" not in detail.text
    [span] = detail.json()["spans"]
    assert span["name"] == "nul\ufffdname"
    assert span["attributes"] == {"k\ufffdey": "va\ufffdlue", "list": ["a\ufffd"]}


async def test_listing_is_keyset_paginated(writer: ApiClient, app: FastAPI) -> None:
    for index in range(3):
        message = otlp.request([otlp.span(name=f"t{index}", trace_id=bytes([index + 1]) * 16)])
        body = message.SerializeToString()
        assert (await writer.post("/v1/traces", content=body, headers=PROTOBUF)).status_code == 200
        await _flush(app)
    first = (await writer.get("/api/traces?limit=2")).json()
    assert [t["root_name"] for t in first["data"]] == ["t2", "t1"]
    second = (await writer.get(f"/api/traces?limit=2&cursor={first['next_cursor']}")).json()
    assert [t["root_name"] for t in second["data"]] == ["t0"]
    assert second["next_cursor"] is None


async def test_metrics_expose_the_queue(writer: ApiClient, app: FastAPI) -> None:
    assert (await writer.post("/v1/traces", content=_spans(), headers=PROTOBUF)).status_code == 200
    await _flush(app)
    text = (await writer.get("/metrics")).text
    assert "corral_ingest_queue_depth 0.0" in text
    assert 'corral_ingest_spans_total{outcome="accepted"} 2.0' in text
