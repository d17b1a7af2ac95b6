"""In Chromium: create a budget, read its usage and forecast, change its limit, delete it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import registered, sign_in


def test_create_edit_and_delete_a_budget(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Budgets").click()
    expect(page.get_by_role("heading", name="Budgets", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("daily spend")
    page.get_by_label("Limit", exact=True).fill("25")
    page.get_by_label("Window", exact=True).select_option("7d")
    page.get_by_label("Scope", exact=True).select_option("agent")
    page.get_by_label(re.compile("^Value")).fill("payer")
    page.get_by_role("button", name="Create budget").click()

    expect(page.get_by_role("heading", name="daily spend", level=1)).to_be_visible()
    expect(page.get_by_test_id("budget-used")).to_have_text("$0.00")
    expect(page.get_by_test_id("forecast")).to_contain_text("per hour")
    expect(page.get_by_role("img", name=re.compile(r"of \$25\.00 used"))).to_be_visible()
    screenshots.take(page, "budget-detail")

    page.get_by_label("Limit", exact=True).fill("40")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("img", name=re.compile(r"of \$40\.00 used"))).to_be_visible()

    page.get_by_role("link", name="← Budgets").click()
    expect(page.get_by_test_id("budget-row")).to_contain_text("agent payer")
    screenshots.take(page, "budgets-list")
    page.get_by_role("link", name="daily spend").click()
    page.get_by_text("Delete budget", exact=True).click()
    page.get_by_role("button", name="Yes, delete budget").click()
    expect(page.get_by_test_id("no-budgets")).to_be_visible()
