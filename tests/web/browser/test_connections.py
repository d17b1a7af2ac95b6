"""In Chromium: add a connection, see it listed without its credential, change its URLs while
keeping the credential, delete it after the confirmation."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import registered, sign_in

SECRET = "tok-do-not-leak-0123456789"


def test_add_edit_and_delete_a_connection(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    main = page.get_by_role("navigation", name="Main")
    main.get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Connections", level=1)).to_be_visible()
    expect(page.get_by_test_id("no-connections")).to_be_visible()

    page.get_by_label(re.compile("^Name")).fill("crm")
    page.get_by_label("Description").fill("the <b>CRM</b>")
    page.get_by_label("Sent as").select_option("header")
    page.get_by_label("Header or parameter name").fill("X-Api-Key")
    page.get_by_label("Credential (token, key or password)").fill(SECRET)
    page.get_by_label("Authorized URLs").fill("https://crm.example.com/api/**")
    page.get_by_role("button", name="Create connection").click()

    expect(page.get_by_role("heading", name="crm", level=1)).to_be_visible()
    expect(page.get_by_test_id("credential")).to_contain_text("X-Api-Key")
    expect(page.get_by_label("New credential")).to_have_value("")
    assert SECRET not in page.content()
    screenshots.take(page, "connection")

    page.get_by_label("Authorized URLs").fill(
        "https://crm.example.com/api/**\nhttps://crm.example.com/v2/*"
    )
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("https://crm.example.com/v2/*", exact=True)).to_be_visible()

    page.get_by_role("link", name="← Connections").click()
    expect(page.get_by_test_id("connection")).to_contain_text("the <b>CRM</b>")
    assert SECRET not in page.content()
    screenshots.take(page, "connections")

    page.get_by_role("link", name="crm").click()
    page.get_by_text("Delete connection", exact=True).click()
    page.get_by_role("button", name="Yes, delete connection").click()
    expect(page.get_by_test_id("no-connections")).to_be_visible()
