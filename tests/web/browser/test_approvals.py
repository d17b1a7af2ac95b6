"""In Chromium: an agent's calls wait for approval; a member approves one (1 of 2) and denies
the other with a comment, through htmx, and finds it in the history."""

from __future__ import annotations

import re

import httpx2
from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import invite, registered, sign_in


def _request(agent: httpx2.Client, amount: int) -> str:
    held = agent.post(
        "/api/approvals",
        json={
            "name": "tool.transfer",
            "arguments": {"amount": amount, "api_key": "sk-live-abcdefabcdef"},
            "agent": "payer",
        },
    )
    assert held.status_code == 201, held.text
    approval_id: str = held.json()["id"]
    return approval_id


def test_approve_and_deny_pending_requests(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme") as owner:
        policy = owner.post(
            "/api/policies",
            json={
                "name": "transfers need two people",
                "expression": "true",
                "action": "require_approval",
                "action_config": {"approvers_required": 2, "message": "two people approve"},
                "applies_to": ["tool.transfer"],
            },
        )
        assert policy.status_code == 201, policy.text
        key = owner.post("/api/api-keys", json={"name": "agent", "scopes": ["decisions:write"]})
        token = invite(owner, "ada@example.com", "member")
    with registered(corral.base_url, "ada@example.com", invitation=token):
        pass
    with httpx2.Client(
        base_url=corral.base_url, headers={"Authorization": f"Bearer {key.json()['key']}"}
    ) as agent:
        first, second = _request(agent, 250), _request(agent, 99)

    sign_in(page, "ada@example.com")
    page.get_by_role("link", name=re.compile("pending approvals")).click()
    expect(page).to_have_url(re.compile(r"/approvals\?status=pending$"))
    expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
    cards = page.get_by_test_id("approval-card")
    expect(cards).to_have_count(2)
    expect(page.get_by_text("[REDACTED]").first).to_be_visible()
    screenshots.take(page, "approvals-pending-light")
    page.emulate_media(color_scheme="dark")
    screenshots.take(page, "approvals-pending-dark")
    page.emulate_media(color_scheme="light")

    card = page.locator(f"#approval-{first}")
    expect(card.get_by_test_id("approval-progress")).to_have_text("0 of 2")
    card.get_by_role("button", name="Approve").click()
    card = page.locator(f"#approval-{first}")
    expect(card.get_by_test_id("approval-progress")).to_have_text("1 of 2")
    expect(card.get_by_test_id("cannot-decide")).to_contain_text("You approved this request.")

    other = page.locator(f"#approval-{second}")
    other.get_by_label("Comment").fill("not this month")
    other.get_by_role("button", name="Deny").click()
    expect(page.locator(f"#approval-{second}")).to_have_count(0)
    expect(cards).to_have_count(1)

    page.get_by_role("link", name="Denied").click()
    expect(page).to_have_url(re.compile(r"status=denied$"))
    denied = page.locator(f"#approval-{second}")
    expect(denied).to_contain_text("not this month")
    expect(denied).to_contain_text("denied")
    screenshots.take(page, "approvals-history")
