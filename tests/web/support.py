"""Helpers for page tests of signed-in people: post a page's form with its own token."""

from __future__ import annotations

from typing import Any

from tests.clients import ApiClient
from tests.web.forms import csrf_of


async def post_form(client: ApiClient, page_path: str, action: str, **fields: str) -> Any:
    """A form post as a browser sends it: the token in the form field, not the API's header."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    token = csrf_of(page)
    client.headers.pop("X-CSRF-Token", None)
    try:
        return await client.post(action, data={"csrf_token": token, **fields})
    finally:
        client.headers["X-CSRF-Token"] = token
