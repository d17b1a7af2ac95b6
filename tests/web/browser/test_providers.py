"""In Chromium: the operator's provider listed read-only, an application's own added (its key
never shown again), changed while keeping the key, and deleted after the confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from corral.api.app import create_app
from tests.api.test_providers import SYSTEM, SYSTEM_SECRET
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import registered, sign_in

KEY = "sk-app-do-not-leak-0123456789abcd"


@pytest.fixture
def corral(tmp_path: Path, database_url: str) -> Iterator[ThreadedServer]:
    """The shared fixture's server, with a provider from the configuration."""
    app = create_app(make_settings(tmp_path, database_url, system_provider_keys=[SYSTEM]))
    with ThreadedServer(app) as server:
        yield server


def test_add_edit_and_delete_a_provider(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    main = page.get_by_role("navigation", name="Main")
    main.get_by_role("link", name="Model providers").click()
    expect(page.get_by_role("heading", name="Model providers", level=1)).to_be_visible()
    expect(page.get_by_test_id("system-provider")).to_contain_text("OpenAI (system)")

    page.get_by_label("Label").fill("Our Anthropic")
    page.get_by_label("API", exact=True).select_option("anthropic-messages")
    page.get_by_label("Base URL").fill("https://api.anthropic.example/v1")
    page.get_by_label("Models").fill("claude-a\nclaude-b")
    page.get_by_label("API key", exact=True).fill(KEY)
    page.get_by_role("button", name="Add provider").click()

    expect(page.get_by_role("heading", name="Our Anthropic", level=1)).to_be_visible()
    expect(page.get_by_test_id("key")).to_contain_text("ends in abcd")
    assert KEY not in page.content()
    screenshots.take(page, "provider")

    page.get_by_label("Models").fill("claude-c")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("key")).to_contain_text("ends in abcd")
    page.get_by_role("link", name="← Model providers").click()
    expect(page.get_by_test_id("provider")).to_contain_text("claude-c")
    assert KEY not in page.content()
    assert SYSTEM_SECRET not in page.content()
    screenshots.take(page, "providers")

    page.get_by_role("link", name="OpenAI (system)").click()
    expect(page.get_by_test_id("read-only")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    page.get_by_role("link", name="← Model providers").click()

    page.get_by_role("link", name="Our Anthropic").click()
    page.get_by_text("Delete provider", exact=True).click()
    page.get_by_role("button", name="Yes, delete provider").click()
    expect(page.get_by_test_id("provider")).to_have_count(0)
