"""In Chromium: the runs list, a run's log following new events live over SSE, Cancel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from corral.api.app import create_app
from corral.container import Container
from tests.clients import PASSWORD
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.seeding import add_events, add_run


@pytest.fixture
def served_app(tmp_path: Path, database_url: str) -> FastAPI:
    return create_app(make_settings(tmp_path, database_url))


@pytest.fixture
def corral(served_app: FastAPI) -> Iterator[ThreadedServer]:
    """The shared fixture's server, on an app this module can seed rows into."""
    with ThreadedServer(served_app) as server:
        yield server


def register(corral: ThreadedServer, email: str) -> dict[str, str]:
    with httpx2.Client(base_url=corral.base_url) as api:
        body = {"email": email, "password": PASSWORD, "name": "Ada", "organization_name": "Acme"}
        registered = api.post("/api/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        me: dict[str, str] = api.get("/api/me").json()
        return me


def sign_in(page: Page, email: str, target: str) -> None:
    page.goto(target)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_follow_a_run_live_and_cancel_it(
    page: Page, corral: ThreadedServer, served_app: FastAPI, screenshots: Screenshots
) -> None:
    container: Container = served_app.state.container
    me = register(corral, "ada@example.com")
    org_id, app_id = me["org_id"], me["application_id"]
    corral.call(add_run(container, org_id, app_id, status="succeeded", agent_name="grader"))
    run_id = corral.call(add_run(container, org_id, app_id, input={"topic": "llamas"}))
    corral.call(add_events(container, run_id, 1, [("status", {"status": "queued"})]))

    sign_in(page, "ada@example.com", "/runs")
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    expect(page.get_by_test_id("runs-table").locator("tbody tr")).to_have_count(2)
    screenshots.take(page, "runs")
    page.get_by_label("Status").select_option("queued")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=queued"))
    expect(page.get_by_test_id("runs-table").locator("tbody tr")).to_have_count(1)

    page.get_by_role("link", name=run_id).click()
    expect(page.get_by_role("heading", name=re.compile(run_id))).to_be_visible()
    log = page.get_by_test_id("run-log")
    expect(log.locator("li")).to_have_count(1)
    # Written while the page is open: the stream (polling when not signalled) brings it.
    corral.call(
        add_events(container, run_id, 2, [("log", {"line": "<b>fetching</b> llama facts"})])
    )
    expect(log.locator("li")).to_have_count(2)
    expect(log.locator("li").last).to_contain_text("<b>fetching</b> llama facts")
    assert log.locator("b").count() == 0
    screenshots.take(page, "run-live")

    page.get_by_text("Cancel run", exact=True).click()
    page.get_by_role("button", name="Yes, cancel run").click()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")
    expect(page.get_by_text("Cancel run", exact=True)).to_have_count(0)
    expect(log).to_contain_text("cancelled")
    screenshots.take(page, "run-cancelled")
