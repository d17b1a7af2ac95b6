"""The whole first hour in Chromium, against a real server: sign up, onboard, connect an agent
with corral-sdk, see its trace, block a tool with a policy from a template and watch the SDK
example refused, approve a held call, and verify the audit chain."""

from __future__ import annotations

import asyncio
import queue
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from examples.blocked_tool.agent import DANGEROUS_COMMAND, SAFE_FILE, build_agent
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from corral.api.app import create_app
from corral.container import Container
from corral_sdk import Client, PendingApproval
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.onboarding import sign_up_and_onboard

# A loaded CI machine can take seconds to answer; the SDK's default would then fail open.
SDK_TIMEOUT_SECONDS = 30.0
NEVER = 3600.0
BLOCK_TEMPLATE = "Block shell and code-execution tools"
APPROVAL_TEMPLATE = "Require approval to delete or move files"


@pytest.fixture
def served_app(tmp_path: Path, database_url: str) -> FastAPI:
    return create_app(make_settings(tmp_path, database_url))


@pytest.fixture
def corral(served_app: FastAPI) -> Iterator[ThreadedServer]:
    with ThreadedServer(served_app) as server:
        yield server


def _ingested(corral: ThreadedServer, app: FastAPI, client: Client) -> None:
    """The SDK's spans exported and written by the server's ingest queue."""
    assert client.flush()
    container: Container = app.state.container
    corral.call(container.ingest.flush())


def _client(
    corral: ThreadedServer,
    key: str,
    on_approval_requested: Callable[[PendingApproval], None] | None = None,
) -> Client:
    return Client(
        key,
        corral.base_url,
        agent="journey-bot",
        timeout_seconds=SDK_TIMEOUT_SECONDS,
        refresh_interval_seconds=NEVER,
        on_approval_requested=on_approval_requested,
        approval_timeout_seconds=SDK_TIMEOUT_SECONDS,
    )


def _policy_from_template(page: Page, template: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    page.get_by_role("link", name="Templates").click()
    page.get_by_role("link", name=f"Use this template: {template}").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value(template)
    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("heading", name=template, level=1)).to_be_visible()


def test_sign_up_to_a_verified_audit_chain(
    page: Page, corral: ThreadedServer, served_app: FastAPI, screenshots: Screenshots
) -> None:
    # Sign up, onboarding (the application, then the agent's key shown once).
    onboarded = sign_up_and_onboard(
        page, corral.base_url, email="grace@example.com", name="Grace", agent="journey-bot"
    )
    key = onboarded.api_key
    assert key.startswith("crl_")
    assert key in onboarded.python_snippet
    screenshots.take(page, "connect")

    # The SDK decides a call in-process and reports it; the trace shows up in the dashboard.
    with _client(corral, key) as agent:

        @agent.guard
        def search(query: str) -> str:
            return f"results for {query}"

        assert search("corral docs") == "results for corral docs"
        with agent.model_call(model="gpt-4o", provider="openai") as call:
            call.record(input_tokens=1200, output_tokens=80)
        _ingested(corral, served_app, agent)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Traces").click()
    page.get_by_role("link", name=re.compile("execute_tool search")).first.click()
    expect(page.get_by_test_id("waterfall")).to_contain_text("execute_tool search")
    screenshots.take(page, "trace")

    # A blocking policy from the gallery; the example's agent is refused its shell call.
    _policy_from_template(page, BLOCK_TEMPLATE)
    executed: list[str] = []
    with _client(corral, key) as agent, tempfile.TemporaryDirectory() as directory:
        workspace = Path(directory)
        (workspace / SAFE_FILE).write_text("Corral decides tool calls before they run.")
        example = build_agent(agent, workspace, executed)
        # Playwright's sync API runs an event loop in this thread; the agent needs its own.
        with ThreadPoolExecutor(max_workers=1) as elsewhere:
            elsewhere.submit(asyncio.run, example.run("Tidy up my workspace.")).result()
        _ingested(corral, served_app, agent)
    assert f"shell: {DANGEROUS_COMMAND}" not in executed
    assert f"read_file: {SAFE_FILE}" in executed
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    page.get_by_role("link", name=re.compile("blocked calls")).click()
    expect(page.get_by_role("heading", name="Decisions", level=1)).to_be_visible()
    expect(page.get_by_test_id("decision-row").first).to_contain_text(BLOCK_TEMPLATE)
    screenshots.take(page, "blocked")

    # A held call waits for a person; approving it in the dashboard lets it run.
    _policy_from_template(page, APPROVAL_TEMPLATE)
    requested: queue.Queue[PendingApproval] = queue.Queue()
    with (
        _client(corral, key, on_approval_requested=requested.put) as agent,
        ThreadPoolExecutor(max_workers=1) as background,
    ):

        @agent.guard
        def delete_file(path: str) -> str:
            return f"deleted {path}"

        deleted = background.submit(delete_file, "report.csv")
        pending = requested.get(timeout=SDK_TIMEOUT_SECONDS)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
        card = page.locator(f"#approval-{pending.id}")
        expect(card).to_contain_text("delete_file")
        screenshots.take(page, "approval")
        card.get_by_role("button", name="Approve").click()
        assert deleted.result(timeout=SDK_TIMEOUT_SECONDS) == "deleted report.csv"

    # Everything above was audited, in a chain that verifies.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("Chain intact")
    screenshots.take(page, "audit-verified")
