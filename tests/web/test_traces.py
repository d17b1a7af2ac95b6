"""The Traces pages in-process: the list, span search, the waterfall and the trace's decisions."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from corral.container import Container
from corral.core.clock import utcnow
from corral.traces.models import Span
from corral.web.trace_view import MAX_WATERFALL_SPANS
from corral.web.waterfall import layout
from tests.clients import ApiClient, asgi_client
from tests.web.seeding import add_decision, add_trace, span_row

XSS = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
TRACE = "c0ffee" + "0" * 25 + "1"


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def _seed(app: FastAPI, owner: ApiClient, trace_id: str = TRACE, **root: object) -> None:
    start = utcnow() - timedelta(minutes=1)
    spans = [
        span_row(
            owner.org_id,
            owner.app_id,
            trace_id,
            "a" * 16,
            None,
            start,
            1000,
            name="agent run",
            category="agent",
            agent_name="summarizer",
            **root,
        ),
        span_row(
            owner.org_id,
            owner.app_id,
            trace_id,
            "b" * 16,
            "a" * 16,
            start + timedelta(milliseconds=100),
            400,
            name="chat gpt-4o",
            category="llm",
            model="gpt-4o",
            attributes={"gen_ai.request.model": "gpt-4o", "prompt": "secret plan"},
        ),
        span_row(
            owner.org_id,
            owner.app_id,
            trace_id,
            "c" * 16,
            "b" * 16,
            start + timedelta(milliseconds=500),
            500,
            name="tool shell",
            category="tool",
            tool_name="shell",
            status="error",
            status_message="exit 1",
        ),
    ]
    await add_trace(_container(app), owner.org_id, owner.app_id, trace_id, spans)


async def test_traces_need_a_session(client: ApiClient) -> None:
    assert (await client.get("/traces")).status_code == 303
    assert (await client.get(f"/traces/{TRACE}")).status_code == 303


async def test_the_list_filters_and_searches(app: FastAPI, owner: ApiClient) -> None:
    await _seed(app, owner)
    other = "d" * 32
    await _seed(app, owner, trace_id=other)
    listed = await owner.get("/traces")
    assert listed.status_code == 200
    assert f'href="/traces/{TRACE}"' in listed.text
    assert f'href="/traces/{other}"' in listed.text
    assert 'aria-current="page">Traces</a>' in listed.text
    assert "agent run" in listed.text
    errors = await owner.get("/traces", params={"status": "error", "window": "1h"})
    assert f'href="/traces/{TRACE}"' in errors.text
    assert "No traces match" in (await owner.get("/traces", params={"status": "ok"})).text
    assert "No traces match" in (await owner.get("/traces", params={"agent": "nobody"})).text
    found = await owner.get("/traces", params={"q": "SECRET PLAN"})
    assert found.status_code == 200
    assert found.text.count("chat gpt-4o</a>") == 2
    assert (await owner.get("/traces", params={"status": "maybe"})).status_code == 422


async def test_the_list_pages_with_a_cursor(app: FastAPI, owner: ApiClient) -> None:
    start = utcnow() - timedelta(hours=1)
    for i in range(51):
        trace_id = f"{i:032x}"
        span = span_row(owner.org_id, owner.app_id, trace_id, "a" * 16, None, start, 5)
        await add_trace(_container(app), owner.org_id, owner.app_id, trace_id, [span])
    first = await owner.get("/traces")
    assert first.text.count('href="/traces/0') == 50
    next_url = first.text.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    second = await owner.get(next_url.replace("&amp;", "&"))
    assert second.text.count('href="/traces/0') == 1
    assert 'rel="next"' not in second.text


async def test_the_waterfall_nests_spans_and_shows_attributes_and_decisions(
    app: FastAPI, owner: ApiClient
) -> None:
    await _seed(app, owner)
    await add_decision(_container(app), owner.org_id, owner.app_id, TRACE, message="rm -rf refused")
    await add_decision(_container(app), owner.org_id, owner.app_id, "e" * 32, message="elsewhere")
    page = await owner.get(f"/traces/{TRACE.upper()}")
    assert page.status_code == 200, page.text
    text = page.text
    rows = [text.index(name) for name in ("agent run", "chat gpt-4o", "tool shell")]
    assert rows == sorted(rows)
    assert 'class="wf-row wf-depth-0"' in text
    assert 'class="wf-row wf-depth-1"' in text
    assert 'class="wf-row wf-depth-2"' in text
    # Bars: the root spans the trace; the LLM call starts at 10 % and lasts 40 %.
    assert 'x="0.0%" y="2" width="100.0%"' in text
    assert 'x="10.0%" y="2" width="40.0%"' in text
    assert 'x="50.0%" y="2" width="50.0%"' in text
    assert "<details>" in text
    assert "&#34;gen_ai.request.model&#34;: &#34;gpt-4o&#34;" in text
    assert "rm -rf refused" in text
    assert "elsewhere" not in text


async def test_a_viewer_reads_traces_and_nothing_is_offered_to_change(
    app: FastAPI, owner: ApiClient
) -> None:
    await _seed(app, owner)
    invitation = (
        await owner.post(
            f"/api/orgs/{owner.org_id}/invitations",
            json={"email": "viewer@example.com", "role": "viewer"},
        )
    ).json()
    async with asgi_client(app) as viewer:
        await viewer.register("viewer@example.com", invitation_token=invitation["token"])
        page = await viewer.get(f"/traces/{TRACE}")
        assert page.status_code == 200
        # The only form on a trace page is the header's sign-out.
        assert page.text.count("<form") == 1


async def test_another_org_gets_404(app: FastAPI, owner: ApiClient, stranger: ApiClient) -> None:
    await _seed(app, owner)
    assert (await stranger.get(f"/traces/{TRACE}")).status_code == 404
    assert TRACE not in (await stranger.get("/traces")).text
    assert "agent run" not in (await stranger.get("/traces", params={"q": "agent"})).text


async def test_user_provided_values_render_inert(app: FastAPI, owner: ApiClient) -> None:
    await _seed(app, owner, attributes={"input": XSS})
    await add_decision(_container(app), owner.org_id, owner.app_id, TRACE, message=XSS)
    for path in ("/traces", f"/traces/{TRACE}", "/traces?q=script"):
        page = await owner.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text


def _span(span_id: str, parent: str | None, start_ms: int, length_ms: int) -> Span:
    start = utcnow()
    row = span_row("org", "app", TRACE, span_id, parent, start, length_ms)
    row["start_time"] = start + timedelta(milliseconds=start_ms)
    row["end_time"] = row["start_time"] + timedelta(milliseconds=length_ms)
    return Span(**row)


def test_layout_survives_orphans_and_cycles() -> None:
    spans = [
        _span("x", "y", 0, 10),
        _span("y", "x", 5, 10),
        _span("orphan", "missing", 2, 0),
        _span("self", "self", 1, 1),
    ]
    bars = layout(spans)
    assert sorted(bar.span.span_id for bar in bars) == ["orphan", "self", "x", "y"]
    orphan = next(bar for bar in bars if bar.span.span_id == "orphan")
    assert orphan.depth == 0
    # A zero-length span is still a visible bar.
    assert orphan.width_percent >= 0.5
    assert layout([]) == []


async def test_a_huge_trace_shows_its_first_spans(app: FastAPI, owner: ApiClient) -> None:
    start = utcnow() - timedelta(minutes=1)
    root = "0" * 16
    spans = [span_row(owner.org_id, owner.app_id, TRACE, root, None, start, 1000)] + [
        span_row(owner.org_id, owner.app_id, TRACE, f"{n:016x}", root, start, 1)
        for n in range(1, MAX_WATERFALL_SPANS + 5)
    ]
    await add_trace(_container(app), owner.org_id, owner.app_id, TRACE, spans)
    page = await owner.get(f"/traces/{TRACE}")
    assert page.status_code == 200
    assert page.text.count('class="wf-row') == MAX_WATERFALL_SPANS
    assert f"first {MAX_WATERFALL_SPANS} of {MAX_WATERFALL_SPANS + 5} spans" in page.text
