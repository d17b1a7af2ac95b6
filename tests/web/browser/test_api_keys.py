"""In Chromium: create an API key (shown once), rotate it, revoke the successor."""

from __future__ import annotations

import re

import httpx2
from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.admin import register, sign_in
from tests.web.browser.conftest import Screenshots


def test_create_rotate_and_revoke_a_key(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    register(corral, "ada@example.com")
    sign_in(page, corral, "ada@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    page.get_by_label("Name").fill("ci <b>agent</b>")
    page.get_by_role("checkbox", name=re.compile(r"^runs:read")).check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("secret-value")
    expect(secret).to_have_value(re.compile(r"^crl_"))
    token = secret.input_value()
    expect(page.get_by_test_id("api-key")).to_contain_text("ci <b>agent</b>")
    screenshots.take(page, "api-keys-created")
    with httpx2.Client(base_url=corral.base_url) as agent:
        assert agent.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).is_success

    page.get_by_role("button", name="Rotate ci <b>agent</b>").click()
    expect(page.get_by_test_id("secret-value")).not_to_have_value(token)
    expect(page.get_by_test_id("api-key")).to_have_count(2)
    page.goto("/api-keys")
    expect(page.get_by_test_id("secret-once")).to_have_count(0)
    first = page.get_by_test_id("api-key").first
    first.get_by_text("Revoke", exact=True).click()
    expect(first.get_by_role("group", name="Revoke")).to_contain_text(
        "Revoke the key ci <b>agent</b>?"
    )
    first.get_by_role("button", name="Yes, revoke").click()
    expect(page.get_by_text("revoked")).to_be_visible()
    screenshots.take(page, "api-keys")
