"""Browser helpers for the administration pages: an account made over the API, signed in on the
page."""

from __future__ import annotations

from typing import Any

import httpx2
from playwright.sync_api import Page, expect

from tests.clients import PASSWORD
from tests.servers import ThreadedServer


def register(corral: ThreadedServer, email: str, org: str = "Acme") -> dict[str, Any]:
    with httpx2.Client(base_url=corral.base_url) as api:
        registered = api.post(
            "/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Ada", "organization_name": org},
        )
        assert registered.status_code == 201, registered.text
        data: dict[str, Any] = registered.json()
        return data


def sign_in(page: Page, corral: ThreadedServer, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{corral.base_url}/")
