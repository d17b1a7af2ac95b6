"""In Chromium: a blocking policy from a template (the live check while typing, a simulation
over seeded spans, create), and a policy's history (diff, restore)."""

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
from tests.web.browser.people import registered, sign_in
from tests.web.seeding import add_trace, span_row

TRACE = "e" * 32
TEMPLATE = "Block shell and code-execution tools"


@pytest.fixture
def served_app(tmp_path: Path, database_url: str) -> FastAPI:
    return create_app(make_settings(tmp_path, database_url))


@pytest.fixture
def corral(served_app: FastAPI) -> Iterator[ThreadedServer]:
    with ThreadedServer(served_app) as server:
        yield server


def _seed_spans(corral: ThreadedServer, app: FastAPI, org_id: str, app_id: str) -> None:
    container: Container = app.state.container
    start = utcnow() - timedelta(minutes=3)
    spans = [
        span_row(
            org_id,
            app_id,
            TRACE,
            f"{n:016x}",
            None,
            start + timedelta(seconds=n),
            20,
            name=f"call {n}",
            category="tool",
            call_name="tool.shell" if n % 3 == 0 else "tool.search",
            agent_name="digger",
        )
        for n in range(9)
    ]
    corral.call(add_trace(container, org_id, app_id, TRACE, spans))


def test_a_blocking_policy_from_a_template(
    page: Page, corral: ThreadedServer, served_app: FastAPI, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme") as api:
        me = api.get("/api/me").json()
    _seed_spans(corral, served_app, me["org_id"], me["application_id"])
    sign_in(page, "owner@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    expect(page.get_by_test_id("no-policies")).to_be_visible()
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Policy templates", level=1)).to_be_visible()
    screenshots.take(page, "policy-templates")

    page.get_by_role("link", name=f"Use this template: {TEMPLATE}").click()
    expect(page.get_by_role("heading", name="New policy", level=1)).to_be_visible()
    expect(page.get_by_test_id("from-template")).to_contain_text(TEMPLATE)
    expect(page.get_by_label("Name", exact=True)).to_have_value(TEMPLATE)

    check = page.get_by_role("status")
    condition = page.get_by_label("Condition (CEL)")
    condition.fill('name == "tool.shell" &&')
    expect(check).to_contain_text("Not valid")
    expect(check).to_contain_text(re.compile(r"line 1, column \d+"))
    condition.fill('name.startsWith("tool.sh")')
    expect(check).to_contain_text("Valid: the policy compiles")

    page.get_by_label("Simulate against the last").select_option("100")
    page.get_by_role("button", name="Simulate").click()
    summary = page.get_by_test_id("simulation-summary")
    expect(summary).to_contain_text("3 of the last 9 tool and model spans would match")
    expect(page.get_by_test_id("simulation-samples").get_by_role("link").first).to_have_attribute(
        "href", f"/traces/{TRACE}"
    )
    screenshots.take(page, "policy-editor")

    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("heading", name=TEMPLATE, level=1)).to_be_visible()
    page.get_by_role("link", name="← Policies").click()
    row = page.get_by_test_id("policy-row")
    expect(row).to_contain_text(TEMPLATE)
    expect(row).to_contain_text("block")
    screenshots.take(page, "policies-list")


def test_diff_and_restore_a_version(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme") as api:
        body = {"name": "no shell", "expression": 'name == "tool.shell"', "action": "block"}
        created = api.post("/api/policies", json=body)
        assert created.status_code == 201, created.text
        policy_id = created.json()["id"]
        for expression in ('name == "tool.bash"', 'name == "tool.bash"\n|| name == "tool.sh"'):
            changed = api.patch(f"/api/policies/{policy_id}", json={"expression": expression})
            assert changed.status_code == 200, changed.text
    sign_in(page, "owner@example.com")
    page.goto(f"/policies/{policy_id}")
    page.get_by_role("link", name="Versions").click()
    expect(page.get_by_test_id("version-row")).to_have_count(3)
    page.get_by_label("From version").select_option("1")
    page.get_by_label("To version").select_option("3")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_test_id("expression-diff")
    expect(diff.locator(".diff-removed")).to_have_text('-name == "tool.shell"')
    expect(diff.locator(".diff-added")).to_have_count(2)
    screenshots.take(page, "policy-diff")

    page.get_by_role("link", name="← Versions").click()
    page.get_by_text("Restore v1", exact=True).click()
    page.get_by_role("button", name="Yes, restore v1").click()
    expect(page.get_by_test_id("version-row")).to_have_count(4)
    expect(page.get_by_test_id("version-row").first).to_contain_text("restore of v1")
