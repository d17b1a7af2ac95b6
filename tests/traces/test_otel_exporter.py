"""The real OpenTelemetry Python exporter, unchanged, against a real Corral server.

`opentelemetry-exporter-otlp-proto-http` posts protobuf (optionally gzip) to a uvicorn serving
the app on a free port; the spans are then read back through the query API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from corral.api.app import create_app
from corral.container import Container
from tests.clients import PASSWORD
from tests.conftest import make_settings
from tests.servers import ThreadedServer


class Corral:
    def __init__(self, server: ThreadedServer, container: Container) -> None:
        self.server = server
        self.container = container
        self.http = httpx2.Client(base_url=server.base_url, timeout=30.0)

    def api_key(self) -> str:
        body = {"email": "otel@example.com", "password": PASSWORD, "organization_name": "OTel"}
        registered = self.http.post("/api/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        csrf = {"X-CSRF-Token": registered.json()["csrf_token"]}
        scopes = ["traces:write", "traces:read"]
        created = self.http.post(
            "/api/api-keys", json={"name": "otel", "scopes": scopes}, headers=csrf
        )
        assert created.status_code == 201, created.text
        self.http.cookies.clear()
        key: str = created.json()["key"]
        return key

    def flush(self) -> None:
        self.server.call(self.container.ingest.flush())


@pytest.fixture
def corral(tmp_path: Path, database_url: str) -> Iterator[Corral]:
    app = create_app(make_settings(tmp_path, database_url))
    with ThreadedServer(app) as server:
        running = Corral(server, app.state.container)
        try:
            yield running
        finally:
            running.http.close()


def _agent_run(service: str) -> tuple[list[ReadableSpan], int]:
    """Spans as an instrumented agent produces them, captured in memory first."""
    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    tracer = provider.get_tracer("corral.tests.otel")
    with tracer.start_as_current_span(
        "invoke_agent support", attributes={"gen_ai.agent.name": "support"}
    ) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 20,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "tool.search",
            attributes={
                "gen_ai.tool.name": "search",
                "corral.tool.args": '{"query": "refund policy"}',
                "tags": ["a", "b"],
                "ratio": 0.5,
            },
        ) as tool:
            tool.set_status(Status(StatusCode.ERROR, "search backend down"))
        trace_id = root.get_span_context().trace_id
    provider.shutdown()
    return list(captured.get_finished_spans()), trace_id


@pytest.mark.parametrize("compression", [Compression.Gzip, Compression.NoCompression])
def test_the_real_exporter_works_unchanged(corral: Corral, compression: Compression) -> None:
    key = corral.api_key()
    spans, trace_id = _agent_run(f"agents-{compression.value}")
    exporter = OTLPSpanExporter(
        endpoint=f"{corral.server.base_url}/v1/traces",
        headers={"Authorization": f"Bearer {key}"},
        compression=compression,
    )
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    corral.flush()

    response = corral.http.get(
        f"/api/traces/{trace_id:032x}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["span_count"] == 3
    assert trace["error_count"] == 1
    assert trace["root_name"] == "invoke_agent support"
    assert trace["agent_name"] == "support"
    assert trace["input_tokens"] == 1000
    by_name: dict[str, Any] = {s["name"]: s for s in trace["spans"]}
    tool = by_name["tool.search"]
    assert (tool["category"], tool["tool_name"], tool["status"]) == ("tool", "search", "error")
    assert tool["status_message"] == "search backend down"
    assert tool["attributes"]["tags"] == ["a", "b"]
    assert tool["attributes"]["ratio"] == 0.5
    assert tool["resource_attributes"]["service.name"] == f"agents-{compression.value}"
    assert by_name["chat gpt-4o"]["cost_usd"] is not None
    root_id = by_name["invoke_agent support"]["span_id"]
    assert {by_name[n]["parent_span_id"] for n in ("tool.search", "chat gpt-4o")} == {root_id}


def test_a_wrong_key_is_refused_and_not_retried_forever(corral: Corral) -> None:
    spans, _ = _agent_run("agents")
    exporter = OTLPSpanExporter(
        endpoint=f"{corral.server.base_url}/v1/traces",
        headers={"Authorization": "Bearer crl_not_a_real_key_at_all"},
        timeout=5,
    )
    try:
        assert exporter.export(spans) == SpanExportResult.FAILURE
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
