"""In Chromium: the traces list, search, and a trace's waterfall with a span's attributes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from corral.api.app import create_app
from corral.container import Container
from corral.core.clock import utcnow
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.test_runs import register, sign_in
from tests.web.seeding import add_decision, add_trace, span_row

TRACE = "f" * 32


@pytest.fixture
def served_app(tmp_path: Path, database_url: str) -> FastAPI:
    return create_app(make_settings(tmp_path, database_url))


@pytest.fixture
def corral(served_app: FastAPI) -> Iterator[ThreadedServer]:
    with ThreadedServer(served_app) as server:
        yield server


def test_trace_waterfall_and_span_attributes(
    page: Page, corral: ThreadedServer, served_app: FastAPI, screenshots: Screenshots
) -> None:
    container: Container = served_app.state.container
    me = register(corral, "ada@example.com")
    org, app = me["org_id"], me["application_id"]
    start = utcnow() - timedelta(minutes=2)
    ms = timedelta(milliseconds=1)
    spans = [
        span_row(
            org,
            app,
            TRACE,
            "1" * 16,
            None,
            start,
            2000,
            name="research agent",
            category="agent",
            agent_name="researcher",
        ),
        span_row(
            org,
            app,
            TRACE,
            "2" * 16,
            "1" * 16,
            start + 50 * ms,
            900,
            name="chat claude",
            category="llm",
            model="claude",
            attributes={"gen_ai.usage.input_tokens": 812},
        ),
        span_row(
            org,
            app,
            TRACE,
            "3" * 16,
            "1" * 16,
            start + 1000 * ms,
            700,
            name="tool search",
            category="tool",
            tool_name="search",
            attributes={"query": "llama <i>facts</i>"},
        ),
        span_row(
            org,
            app,
            TRACE,
            "4" * 16,
            "3" * 16,
            start + 1100 * ms,
            300,
            name="http get",
            status="error",
            status_message="timeout",
        ),
    ]
    corral.call(add_trace(container, org, app, TRACE, spans))
    corral.call(
        add_decision(
            container,
            org,
            app,
            TRACE,
            message="search allowed after review",
            action="require_approval",
            call_name="tool.search",
        )
    )

    sign_in(page, "ada@example.com", "/traces")
    expect(page.get_by_role("heading", name="Traces", level=1)).to_be_visible()
    expect(page.get_by_test_id("traces-table").locator("tbody tr")).to_have_count(1)
    screenshots.take(page, "traces")

    page.get_by_label("Search spans").fill("LLAMA")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"q=LLAMA"))
    expect(page.get_by_test_id("spans-table").locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="tool search").click()

    expect(page.get_by_role("heading", name=re.compile("research agent"))).to_be_visible()
    rows = page.get_by_test_id("waterfall").locator("li")
    expect(rows).to_have_count(4)
    expect(rows.nth(3)).to_contain_text("http get")
    # Attributes are hidden until a span is opened, then shown as text.
    attributes = rows.nth(2).locator("pre")
    expect(attributes).to_be_hidden()
    rows.nth(2).locator("summary").click()
    expect(attributes).to_be_visible()
    expect(attributes).to_contain_text("llama <i>facts</i>")
    assert rows.nth(2).locator("i").count() == 0
    # Keyboard: a summary is focusable and toggles with Enter.
    rows.nth(1).locator("summary").focus()
    page.keyboard.press("Enter")
    expect(rows.nth(1).locator("pre")).to_contain_text("gen_ai.usage.input_tokens")
    expect(page.get_by_test_id("decisions-table")).to_contain_text("search allowed after review")
    screenshots.take(page, "trace-waterfall")
    page.emulate_media(color_scheme="dark")
    screenshots.take(page, "trace-waterfall-dark")
