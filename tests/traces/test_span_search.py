"""`GET /api/spans`: filters, full-text `q`, keyset pages, bounded scans, tenant scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from corral.identity.access import AppScope, Caller
from corral.traces import queries
from corral.traces.queries import SpanFilters
from tests.clients import ApiClient, asgi_client
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import WRITER_SCOPES, container_of, send_and_store, span_id

SECOND = 1_000_000_000
TRACE = otlp.TRACE_ID.hex()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp((otlp.START + seconds * SECOND) / SECOND, UTC)


def _span(number: int, name: str, seconds: int = 0, **kwargs: Any) -> Span:
    return otlp.span(
        name=name,
        span_id=span_id(number),
        start=otlp.START + seconds * SECOND,
        end=otlp.START + seconds * SECOND + 1000,
        **kwargs,
    )


SPANS = [
    _span(
        1,
        "tool.shell",
        1,
        attributes={
            "gen_ai.tool.name": "shell",
            "corral.tool.args": '{"cmd": "rm -rf /tmp/x"}',
            "gen_ai.agent.name": "planner",
        },
    ),
    _span(
        2,
        "chat gpt-4o",
        2,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.content": "Bonjour, un café ?",
            "gen_ai.agent.name": "planner",
            "details": {"nested": ["needle-in-a-list"]},
        },
    ),
    _span(3, "fetch 100%_done", 3, status_code=Status.STATUS_CODE_ERROR),
    _span(4, "idle", 4, attributes={"gen_ai.agent.name": "sleeper"}),
]


async def _names(client: ApiClient, **params: Any) -> list[str]:
    response = await client.get("/api/spans", params=params)
    assert response.status_code == 200, response.text
    return [s["name"] for s in response.json()["data"]]


async def test_filters(writer: ApiClient, app: FastAPI) -> None:
    await send_and_store(app, writer, SPANS)
    assert await _names(writer) == ["idle", "fetch 100%_done", "chat gpt-4o", "tool.shell"]
    assert await _names(writer, tool="shell") == ["tool.shell"]
    assert await _names(writer, model="gpt-4o") == ["chat gpt-4o"]
    assert await _names(writer, agent="planner") == ["chat gpt-4o", "tool.shell"]
    assert await _names(writer, category="llm") == ["chat gpt-4o"]
    assert await _names(writer, category="tool", agent="planner") == ["tool.shell"]
    assert await _names(writer, status="error") == ["fetch 100%_done"]
    assert await _names(writer, trace_id=TRACE.upper()) == await _names(writer)
    assert await _names(writer, trace_id="0" * 31 + "1") == []
    window = {"since": _at(2).isoformat(), "until": _at(4).isoformat()}
    assert await _names(writer, **window) == ["fetch 100%_done", "chat gpt-4o"]
    bad = await writer.get("/api/spans", params={"trace_id": "not-hex"})
    assert bad.status_code == 422


async def test_full_text_over_names_and_attribute_values(writer: ApiClient, app: FastAPI) -> None:
    await send_and_store(app, writer, SPANS)
    assert await _names(writer, q="rm -rf") == ["tool.shell"]
    assert await _names(writer, q="SHELL") == ["tool.shell"]
    assert await _names(writer, q="bonjour") == ["chat gpt-4o"]
    assert await _names(writer, q="café") == ["chat gpt-4o"]  # decoded, not \\u00e9
    assert await _names(writer, q="needle-in") == ["chat gpt-4o"]  # inside a nested value
    # LIKE wildcards are literal characters.
    assert await _names(writer, q="%") == ["fetch 100%_done"]
    assert await _names(writer, q="0%_d") == ["fetch 100%_done"]
    assert await _names(writer, q="_") == ["fetch 100%_done"]
    assert await _names(writer, q="\\") == []
    assert await _names(writer, q="planner", category="llm") == ["chat gpt-4o"]
    assert await _names(writer, q="nowhere") == []
    # Keys are not values.
    assert await _names(writer, q="gen_ai.request.model") == []


async def test_pages_walk_ties_in_start_time(writer: ApiClient, app: FastAPI) -> None:
    same_time = [_span(n, f"s{n}", 5) for n in range(1, 8)]
    await send_and_store(app, writer, same_time)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await writer.get("/api/spans", params=params)).json()
        seen += [s["name"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"s{n}" for n in range(1, 8)]
    assert len(seen) == 7
    assert (await writer.get("/api/spans", params={"cursor": "YWJj"})).status_code == 422


async def test_a_bounded_scan_continues_where_it_stopped(writer: ApiClient, app: FastAPI) -> None:
    spans = [_span(n, "match" if n == 1 else f"other {n}", n) for n in range(1, 6)]
    await send_and_store(app, writer, spans)
    scope = AppScope(
        caller=Caller("api_key", None, None, None, None, None),
        org_id=writer.org_id,
        application_id=writer.app_id,
        role=None,
        permissions=frozenset({"traces:read"}),
        end_user_id=None,
    )
    pages: list[list[str]] = []
    cursor: str | None = None
    async with container_of(app).sessions() as session:
        for _ in range(5):
            rows, cursor = await queries.search_spans(
                session, scope, SpanFilters(q="match"), cursor=cursor, limit=10, scan_rows=2
            )
            pages.append([r.name for r in rows])
            if cursor is None:
                break
    # Newest first, two candidates per page: 5 4 | 3 2 | 1.
    assert pages == [[], [], ["match"]]


async def test_spans_of_another_application_are_invisible(
    writer: ApiClient, app: FastAPI, stranger: ApiClient
) -> None:
    await send_and_store(app, writer, SPANS)
    key = await stranger.create_key(WRITER_SCOPES)
    async with asgi_client(app, token=key["key"]) as other:
        # The same trace and span ids, from another application: a separate span.
        await send_and_store(app, other, [_span(1, "theirs", 1)])
        assert await _names(other, trace_id=TRACE) == ["theirs"]
        assert await _names(other, q="shell") == []
        assert await _names(other) == ["theirs"]
    assert "theirs" not in await _names(writer, trace_id=TRACE)
    assert await _names(stranger, q="rm -rf") == []
