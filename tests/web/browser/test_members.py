"""In Chromium: invite someone (the link shown, no email configured), revoke, change a role."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.admin import register, sign_in
from tests.web.browser.conftest import Screenshots


def test_invite_revoke_and_members(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    register(corral, "ada@example.com")
    sign_in(page, corral, "ada@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", name="Members", level=1)).to_be_visible()
    expect(page.get_by_test_id("member")).to_contain_text("ada@example.com")
    page.get_by_label("Email").fill("carol@example.com")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_test_id("secret-value")).to_have_value(
        re.compile(r"/invitations/accept\?token=")
    )
    expect(page.get_by_test_id("invitation")).to_contain_text("carol@example.com")
    screenshots.take(page, "members-invited")
    invitation = page.get_by_test_id("invitation").filter(has_text="carol@example.com")
    invitation.get_by_text("Revoke", exact=True).click()
    invitation.get_by_role("button", name="Yes, revoke").click()
    expect(page.get_by_test_id("invitation")).to_have_count(0)
    expect(page.get_by_text("No pending invitations.")).to_be_visible()
    screenshots.take(page, "members")
