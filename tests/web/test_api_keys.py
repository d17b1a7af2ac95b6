"""The API keys page: list without secrets, create and rotate (the key shown once), revoke."""

from __future__ import annotations

import re

from fastapi import FastAPI

from tests.clients import ApiClient, asgi_client
from tests.web.admin import ESCAPED_XSS, XSS, add_member, signed_in
from tests.web.forms import csrf_of

_KEY = re.compile(r"crl_[A-Za-z0-9_-]{20,}")


async def test_create_shows_the_key_once_and_it_works(app: FastAPI, owner: ApiClient) -> None:
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/api-keys")
        assert page.status_code == 200
        assert "<h1>API keys</h1>" in page.text
        created = await browser.post(
            "/api-keys",
            data={
                "csrf_token": csrf_of(page),
                "name": XSS,
                "scopes": ["traces:write", "runs:read"],
            },
        )
        assert created.status_code == 200, created.text
        assert created.headers["cache-control"] == "no-store"
        token = _KEY.search(created.text)
        assert token is not None
        assert XSS not in created.text
        assert ESCAPED_XSS in created.text
        # Never again: the list shows the prefix only.
        again = await browser.get("/api-keys")
        assert token.group(0) not in again.text
        assert "traces:write" in again.text
    async with asgi_client(app, token=token.group(0)) as agent:
        assert (await agent.get("/api/runs")).status_code == 200


async def test_rotate_shows_the_successor_once_and_revoke_ends_the_key(
    app: FastAPI, owner: ApiClient
) -> None:
    key = await owner.create_key(["runs:read"], name="ci")
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/api-keys")
        assert f'action="/api-keys/{key["id"]}/rotate"' in page.text
        rotated = await browser.post(
            f"/api-keys/{key['id']}/rotate", data={"csrf_token": csrf_of(page)}
        )
        assert rotated.status_code == 200, rotated.text
        successor = _KEY.search(rotated.text)
        assert successor is not None
        assert successor.group(0) != key["key"]
        assert "rotated" in rotated.text
        revoked = await browser.post(
            f"/api-keys/{key['id']}/revoke", data={"csrf_token": csrf_of(page)}
        )
        assert revoked.status_code == 303
        assert revoked.headers["location"] == "/api-keys"
        listed = (await browser.get("/api-keys")).text
        assert "revoked" in listed
        assert successor.group(0) not in listed
    async with asgi_client(app, token=key["key"]) as old:
        assert (await old.get("/api/runs")).status_code == 401


async def test_viewers_cannot_see_keys_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    key = await owner.create_key(["runs:read"], name="ci")
    await add_member(app, owner, "vera@example.com", "viewer")
    async with signed_in(app, "vera@example.com") as browser:
        overview = await browser.get("/")
        assert 'href="/api-keys"' not in overview.text
        refused = await browser.get("/api-keys")
        assert refused.status_code == 403
        assert "api_keys:read" in refused.text
        forged = await browser.post(
            f"/api-keys/{key['id']}/revoke", data={"csrf_token": csrf_of(overview)}
        )
        assert forged.status_code == 403
    assert (await owner.get(f"/api/api-keys/{key['id']}")).json()["revoked_at"] is None


async def test_another_orgs_key_is_not_found_and_csrf_is_required(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    theirs = await stranger.create_key(["runs:read"], name="theirs")
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/api-keys")
        assert "theirs" not in page.text
        for action in ("rotate", "revoke"):
            missing = await browser.post(
                f"/api-keys/{theirs['id']}/{action}", data={"csrf_token": csrf_of(page)}
            )
            assert missing.status_code == 404
        mine = await owner.create_key(["runs:read"], name="mine")
        no_token = await browser.post(f"/api-keys/{mine['id']}/revoke", data={})
        assert no_token.status_code == 403
        assert "security token" in no_token.text
        scoped_beyond = await browser.post(
            "/api-keys", data={"csrf_token": "forged", "name": "x", "scopes": ["runs:read"]}
        )
        assert scoped_beyond.status_code == 403
    assert (await owner.get(f"/api/api-keys/{mine['id']}")).json()["revoked_at"] is None
    assert (await stranger.get(f"/api/api-keys/{theirs['id']}")).json()["revoked_at"] is None
