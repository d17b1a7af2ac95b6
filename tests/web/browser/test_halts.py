"""In Chromium: pause an agent from the Halts page, see it listed, clear it, find it cleared."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import registered, sign_in


def test_create_and_clear_a_halt(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Halts").click()
    expect(page.get_by_role("heading", name="Halts", level=1)).to_be_visible()
    expect(page.get_by_test_id("no-halts")).to_be_visible()

    page.get_by_label("Scope", exact=True).select_option("agent")
    page.get_by_label(re.compile("^Value")).fill("payer")
    page.get_by_label("Reason", exact=True).fill("loops on refunds")
    page.get_by_label("paused").check()
    page.get_by_role("button", name="Create halt").click()

    row = page.get_by_test_id("halt-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("payer")
    expect(row).to_contain_text("paused")
    expect(row).to_contain_text("loops on refunds")
    screenshots.take(page, "halts-active")

    row.get_by_text("Clear", exact=True).click()
    row.get_by_role("button", name="Yes, clear").click()
    expect(page.get_by_test_id("no-halts")).to_be_visible()
    page.get_by_role("link", name="All, with cleared").click()
    expect(page.get_by_test_id("halt-row")).to_contain_text("cleared")
    screenshots.take(page, "halts-all")
