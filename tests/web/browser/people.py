"""People for browser tests, made over the API of the running server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from playwright.sync_api import Page

from tests.clients import PASSWORD


@contextmanager
def registered(
    base_url: str, email: str, *, org: str | None = None, invitation: str = ""
) -> Iterator[httpx2.Client]:
    """A signed-in API client of a new user."""
    with httpx2.Client(base_url=base_url) as api:
        yield _register(api, email, org, invitation)


def _register(api: httpx2.Client, email: str, org: str | None, invitation: str) -> httpx2.Client:
    body = {"email": email, "password": PASSWORD, "name": email.split("@")[0]}
    if org is not None:
        body["organization_name"] = org
    if invitation:
        body["invitation_token"] = invitation
    registered = api.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    api.headers["X-CSRF-Token"] = registered.json()["csrf_token"]
    return api


def invite(owner: httpx2.Client, email: str, role: str) -> str:
    org_id = owner.get("/api/me").json()["org_id"]
    invited = owner.post(f"/api/orgs/{org_id}/invitations", json={"email": email, "role": role})
    assert invited.status_code == 201, invited.text
    token: str = invited.json()["token"]
    return token


def sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
