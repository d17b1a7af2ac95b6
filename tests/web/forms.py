"""Helpers to use dashboard pages like a browser would: read a form's token, post it."""

from __future__ import annotations

import re

import httpx2

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: httpx2.Response) -> str:
    """The CSRF token in a page's first form."""
    found = _CSRF_FIELD.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def submit(
    client: httpx2.AsyncClient, page_path: str, action: str, fields: dict[str, str]
) -> httpx2.Response:
    """GET the page (for its token and cookie), then post the form as a browser does."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_of(page), **fields})
