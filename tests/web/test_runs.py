"""The Runs pages in-process: the list and its filters, a run's detail and log, Cancel."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from corral.container import Container
from corral.core.clock import utcnow
from tests.clients import ApiClient, asgi_client
from tests.web.forms import csrf_of
from tests.web.seeding import add_decision, add_events, add_run, add_trace, span_row

XSS = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def _viewer(app: FastAPI, owner: ApiClient, email: str = "viewer@example.com") -> ApiClient:
    invitation = (
        await owner.post(
            f"/api/orgs/{owner.org_id}/invitations", json={"email": email, "role": "viewer"}
        )
    ).json()
    async with asgi_client(app) as user:
        await user.register(email, invitation_token=invitation["token"])
        return user


async def test_runs_need_a_session(client: ApiClient) -> None:
    listed = await client.get("/runs?status=failed")
    assert listed.status_code == 303
    assert listed.headers["location"].startswith("/sign-in?next=")
    assert (await client.get("/runs/run_x")).status_code == 303


async def test_the_list_filters_and_pages(app: FastAPI, owner: ApiClient) -> None:
    container = _container(app)
    old = utcnow() - timedelta(days=3)
    failed = await add_run(
        container, owner.org_id, owner.app_id, status="failed", agent_name="grader"
    )
    stale = await add_run(container, owner.org_id, owner.app_id, status="failed", created_at=old)
    for _ in range(50):
        await add_run(container, owner.org_id, owner.app_id, status="succeeded")

    first = await owner.get("/runs")
    assert first.status_code == 200
    assert "<h1>Runs</h1>" in first.text
    assert first.text.count('href="/runs/run_') == 50
    assert 'aria-current="page">Runs</a>' in first.text
    assert 'rel="next"' in first.text
    second_url = first.text.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    second = await owner.get(second_url.replace("&amp;", "&"))
    assert second.status_code == 200
    assert second.text.count('href="/runs/run_') == 2
    assert 'rel="next"' not in second.text

    only_failed = await owner.get("/runs", params={"status": "failed"})
    assert failed in only_failed.text
    assert stale in only_failed.text
    assert only_failed.text.count('href="/runs/run_') == 2
    recent_failed = await owner.get("/runs", params={"status": "failed", "window": "24h"})
    assert failed in recent_failed.text
    assert stale not in recent_failed.text
    # The selects keep what was chosen.
    assert '<option value="24h" selected>' in recent_failed.text
    assert (await owner.get("/runs", params={"status": "exploded"})).status_code == 422
    assert (await owner.get("/runs", params={"window": "1y"})).status_code == 422


async def test_the_detail_shows_what_ran_and_the_stored_log(app: FastAPI, owner: ApiClient) -> None:
    container = _container(app)
    run_id = await add_run(
        container,
        owner.org_id,
        owner.app_id,
        status="failed",
        agent_name="summarizer",
        input={"question": "what is 6 × 7?"},
        output={"answer": 42},
        error_code="runtime_error",
        error_message="the agent exited with 1",
        usage={"input_tokens": 1200, "output_tokens": 34, "model_calls": 2, "tool_calls": 1},
        cost_usd=0.0123,
        trace_id="ab" * 16,
    )
    await add_events(
        container,
        run_id,
        1,
        [("status", {"status": "running"}), ("log", {"line": "thinking"})],
    )
    page = await owner.get(f"/runs/{run_id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "what is 6 × 7?" in text
    assert "&#34;answer&#34;: 42" in text
    assert "runtime_error" in text
    assert "the agent exited with 1" in text
    assert "0.012300 USD" in text
    assert "1200 tokens in, 34 out, 2 model calls, 1 tool calls" in text
    assert 'href="/traces/' + "ab" * 16 + '"' in text
    assert 'data-seq="2"' in text
    assert "thinking" in text
    # An ended run is not followed live and cannot be cancelled.
    assert 'data-live="false"' in text
    assert "Cancel run" not in text
    assert "/static/" in text
    assert "run_log.js" in text


async def test_the_detail_shows_the_runs_waterfall_and_decisions(
    app: FastAPI, owner: ApiClient
) -> None:
    container = _container(app)
    trace_id = "cd" * 16
    waiting = await add_run(container, owner.org_id, owner.app_id, trace_id="ef" * 16)
    run_id = await add_run(
        container, owner.org_id, owner.app_id, status="succeeded", trace_id=trace_id
    )
    start = utcnow() - timedelta(minutes=1)
    spans = [
        span_row(owner.org_id, owner.app_id, trace_id, "a" * 16, None, start, 800, name="run"),
        span_row(
            owner.org_id,
            owner.app_id,
            trace_id,
            "b" * 16,
            "a" * 16,
            start + timedelta(milliseconds=200),
            400,
            name="execute_tool shell",
            category="tool",
            tool_name="shell",
        ),
    ]
    await add_trace(container, owner.org_id, owner.app_id, trace_id, spans)
    await add_decision(container, owner.org_id, owner.app_id, trace_id, message="rm refused")

    text = (await owner.get(f"/runs/{run_id}")).text
    assert 'data-testid="waterfall"' in text
    assert "execute_tool shell" in text
    assert 'class="wf-row wf-depth-1"' in text
    assert 'x="25.0%" y="2" width="50.0%"' in text
    assert "rm refused" in text
    # No span yet: the page says so instead of an empty waterfall.
    before = (await owner.get(f"/runs/{waiting}")).text
    assert 'data-testid="no-spans"' in before
    assert 'data-testid="waterfall"' not in before


async def test_a_live_run_is_followed_from_its_last_shown_event(
    app: FastAPI, owner: ApiClient
) -> None:
    container = _container(app)
    run_id = await add_run(container, owner.org_id, owner.app_id, next_event_seq=1)
    await add_events(container, run_id, 1, [("status", {"status": "queued"})])
    page = await owner.get(f"/runs/{run_id}")
    assert 'data-live="true"' in page.text
    assert f'data-events-url="/api/runs/{run_id}/events"' in page.text
    assert 'data-after="1"' in page.text
    assert "Cancel run" in page.text


async def test_the_event_stream_answers_the_page_session(app: FastAPI) -> None:
    """The page's script opens the API's SSE endpoint with the cookie session alone."""
    async with asgi_client(app) as owner:
        await owner.register("sse@example.com", org="Acme")
        run_id = await add_run(_container(app), owner.org_id, owner.app_id, status="succeeded")
        await add_events(_container(app), run_id, 1, [("output", {"answer": 1})])
        del owner.headers["X-CSRF-Token"]
        streamed = await owner.get(f"/api/runs/{run_id}/events", params={"after": 0})
        assert streamed.status_code == 200
        assert "event: output" in streamed.text
        assert "event: end" in streamed.text


async def test_cancel_from_the_page(app: FastAPI, owner: ApiClient) -> None:
    run_id = await add_run(_container(app), owner.org_id, owner.app_id)
    page = await owner.get(f"/runs/{run_id}")
    cancelled = await owner.post(
        f"/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page)}, headers={"X-CSRF-Token": ""}
    )
    assert cancelled.status_code == 303, cancelled.text
    assert cancelled.headers["location"] == f"/runs/{run_id}"
    after = await owner.get(f"/runs/{run_id}")
    assert 'data-testid="run-status">cancelled<' in after.text
    assert "Cancel run" not in after.text
    audit = (await owner.get("/api/audit/events", params={"action": "run.cancelled"})).json()
    assert [e["target_id"] for e in audit["data"]] == [run_id]


async def test_cancel_without_the_csrf_token_is_refused(app: FastAPI, owner: ApiClient) -> None:
    run_id = await add_run(_container(app), owner.org_id, owner.app_id)
    del owner.headers["X-CSRF-Token"]
    refused = await owner.post(f"/runs/{run_id}/cancel", data={})
    assert refused.status_code == 403
    assert "Form refused" in refused.text
    assert 'data-testid="run-status">queued<' in (await owner.get(f"/runs/{run_id}")).text


async def test_a_viewer_sees_no_cancel_and_the_server_refuses_it(
    app: FastAPI, owner: ApiClient
) -> None:
    run_id = await add_run(_container(app), owner.org_id, owner.app_id)
    viewer = await _viewer(app, owner)
    async with asgi_client(app) as browser:
        browser.cookies = viewer.cookies
        browser.headers["X-CSRF-Token"] = viewer.headers["X-CSRF-Token"]
        page = await browser.get(f"/runs/{run_id}")
        assert page.status_code == 200
        assert "Cancel run" not in page.text
        forged = await browser.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page)})
        assert forged.status_code == 403
        assert 'data-testid="run-status">queued<' in (await browser.get(f"/runs/{run_id}")).text


async def test_another_org_gets_404(app: FastAPI, owner: ApiClient, stranger: ApiClient) -> None:
    run_id = await add_run(_container(app), owner.org_id, owner.app_id)
    assert (await stranger.get(f"/runs/{run_id}")).status_code == 404
    listed = await stranger.get("/runs")
    assert run_id not in listed.text
    page = await stranger.get("/runs")
    refused = await stranger.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 404
    assert 'data-testid="run-status">queued<' in (await owner.get(f"/runs/{run_id}")).text


async def test_user_provided_values_render_inert(app: FastAPI, owner: ApiClient) -> None:
    container = _container(app)
    run_id = await add_run(
        container,
        owner.org_id,
        owner.app_id,
        status="failed",
        agent_name=XSS[:63],
        input={"x": XSS},
        output=XSS,
        error_code="runtime_error",
        error_message=XSS,
    )
    await add_events(container, run_id, 1, [("log", {"line": XSS})])
    for path in ("/runs", f"/runs/{run_id}"):
        page = await owner.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text


async def test_cancel_through_htmx_stays_on_the_page(app: FastAPI, owner: ApiClient) -> None:
    """The live log shows the outcome; a redirect would cut its event stream off."""
    run_id = await add_run(_container(app), owner.org_id, owner.app_id)
    cancelled = await owner.post(f"/runs/{run_id}/cancel", headers={"HX-Request": "true"})
    assert cancelled.status_code == 204
    assert "HX-Redirect" not in cancelled.headers
    assert 'data-testid="run-status">cancelled<' in (await owner.get(f"/runs/{run_id}")).text
