"""Helpers for the administration page tests: a signed-in browser, a member of another role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.web.forms import submit

XSS = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
ESCAPED_XSS = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;"


@asynccontextmanager
async def signed_in(app: FastAPI, email: str) -> AsyncIterator[ApiClient]:
    """A browser session on the dashboard (cookies only, as a browser has)."""
    async with asgi_client(app) as browser:
        done = await submit(browser, "/sign-in", "/sign-in", {"email": email, "password": PASSWORD})
        assert done.status_code == 303, done.text
        yield browser


async def add_member(app: FastAPI, owner: ApiClient, email: str, role: str) -> str:
    """A new user who joined the owner's organization with `role`; their user id."""
    invited = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": email, "role": role}
    )
    assert invited.status_code == 201, invited.text
    async with asgi_client(app) as joining:
        data = await joining.register(email, invitation_token=invited.json()["token"])
    user_id: str = data["user"]["id"]
    return user_id
