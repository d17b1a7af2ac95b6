"""In Chromium: add a webhook endpoint (secret shown once), send a test event, edit it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.admin import register, sign_in
from tests.web.browser.conftest import Screenshots


def test_add_an_endpoint_send_a_test_and_disable_it(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    register(corral, "ada@example.com")
    sign_in(page, corral, "ada@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    page.get_by_label("URL").fill("https://hooks.example.com/corral")
    page.get_by_label("Description").fill("on-call")
    page.get_by_role("checkbox", name="halt.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_test_id("secret-value")).to_have_value(re.compile(r"^whsec_"))
    screenshots.take(page, "webhook-created")

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_test_id("secret-once")).to_have_count(0)
    expect(page.get_by_test_id("webhook-delivery")).to_contain_text("webhook.test")
    expect(page.get_by_test_id("webhook-delivery")).to_contain_text("pending")
    page.get_by_test_id("webhook-delivery").get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Delivery"))).to_be_visible()
    expect(page.get_by_text("Not attempted yet.")).to_be_visible()
    page.go_back()

    page.get_by_role("checkbox", name="Enabled").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("disabled").first).to_be_visible()
    screenshots.take(page, "webhook")
    page.get_by_role("link", name="← Webhooks").click()
    expect(page.get_by_test_id("webhook-endpoint")).to_contain_text("hooks.example.com")
