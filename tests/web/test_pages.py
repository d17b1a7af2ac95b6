"""The dashboard's foundation in-process: sign-in redirects, CSRF on forms, escaping, next URLs,
the second factor, the emailed links, the Overview's numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pyotp
import pytest
from fastapi import FastAPI

from corral.api.deps import CSRF_COOKIE, SESSION_COOKIE
from corral.container import Container
from corral.core.db import transaction
from corral.core.request_context import Actor
from corral.identity.services import accounts, password_reset
from corral.web.viewer import safe_next
from tests.api.test_policies import create as create_policy
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.web.forms import csrf_of, submit

XSS = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


async def _sign_in(client: ApiClient, email: str, next_url: str = "") -> Any:
    fields = {"email": email, "password": PASSWORD}
    if next_url:
        fields["next"] = next_url
    return await submit(client, "/sign-in", "/sign-in", fields)


async def test_pages_redirect_to_sign_in_with_the_page_to_come_back_to(
    client: ApiClient,
) -> None:
    home = await client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/sign-in"
    deep = await client.get("/?from=mail")
    assert deep.headers["location"] == "/sign-in?next=" + quote("/?from=mail", safe="")
    # A session cookie that is no session is treated like none.
    client.cookies.set(SESSION_COOKIE, "forged")
    assert (await client.get("/")).headers["location"] == "/sign-in"


async def test_sign_in_sets_the_api_session_and_goes_to_next(
    app: FastAPI, owner: ApiClient
) -> None:
    async with asgi_client(app) as browser:
        signed_in = await _sign_in(browser, owner.email, next_url="/?tab=today")
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/?tab=today"
        assert browser.cookies.get(SESSION_COOKIE)
        overview = await browser.get("/")
        assert overview.status_code == 200
        assert "<h1>Overview</h1>" in overview.text
        # The session token is HttpOnly and never part of a page.
        assert browser.cookies[SESSION_COOKIE] not in overview.text
        assert overview.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in overview.headers["content-security-policy"]
        # The same session works for the API, with the CSRF token the page carries.
        token = csrf_of(overview)
        assert token == browser.cookies.get(CSRF_COOKIE)
        me = await browser.get("/api/me")
        assert me.json()["user"]["email"] == owner.email
        created = await browser.post(
            "/api/end-users", json={"external_id": "x"}, headers={"X-CSRF-Token": token}
        )
        assert created.status_code == 201


async def test_wrong_password_shows_the_form_again(client: ApiClient, owner: ApiClient) -> None:
    refused = await submit(
        client, "/sign-in", "/sign-in", {"email": owner.email, "password": "wrong password"}
    )
    assert refused.status_code == 401
    assert "email or password is wrong" in refused.text
    assert f'value="{owner.email}"' in refused.text
    assert not client.cookies.get(SESSION_COOKIE)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example/phish",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "evil.example",
        "/ok\r\nLocation: https://evil.example",
    ],
)
async def test_next_never_leaves_the_server(app: FastAPI, owner: ApiClient, target: str) -> None:
    async with asgi_client(app) as browser:
        page = await browser.get("/sign-in", params={"next": target})
        assert "evil.example" not in page.text
        signed_in = await _sign_in(browser, owner.email, next_url=target)
        assert signed_in.status_code == 303
        location = signed_in.headers["location"]
        assert location.startswith("/")
        assert not location.startswith("//")
        assert "evil.example" not in location
        assert "\\" not in location


def test_safe_next_keeps_paths_on_this_server() -> None:
    assert safe_next("/runs?status=failed#top") == "/runs?status=failed#top"
    assert safe_next("") == "/"
    assert safe_next(None) == "/"
    assert safe_next("https://127.0.0.1:4318/") == "/"
    assert safe_next("/" + "a" * 3000) == "/"


async def test_forms_without_the_csrf_token_are_refused(app: FastAPI, owner: ApiClient) -> None:
    async with asgi_client(app) as browser:
        await browser.get("/sign-in")  # has the pre-session cookie, but posts no field
        refused = await browser.post("/sign-in", data={"email": owner.email, "password": PASSWORD})
        assert refused.status_code == 403
        assert "security token" in refused.text
        assert not browser.cookies.get(SESSION_COOKIE)
        forged = await browser.post(
            "/sign-in",
            data={"email": owner.email, "password": PASSWORD, "csrf_token": "guessed"},
        )
        assert forged.status_code == 403

        assert (await _sign_in(browser, owner.email)).status_code == 303
        # Signed in: sign-out without the session's token (another site's post) does nothing.
        for data in ({}, {"csrf_token": "guessed"}):
            kept = await browser.post("/sign-out", data=data)
            assert kept.status_code == 403
        assert (await browser.get("/")).status_code == 200
        page = await browser.get("/")
        out = await browser.post("/sign-out", data={"csrf_token": csrf_of(page)})
        assert out.status_code == 303
        assert out.headers["location"] == "/sign-in"
        assert (await browser.get("/")).status_code == 303


async def test_sign_out_ends_the_session_on_the_server(app: FastAPI, owner: ApiClient) -> None:
    async with asgi_client(app) as browser:
        await _sign_in(browser, owner.email)
        stolen = browser.cookies[SESSION_COOKIE]
        page = await browser.get("/")
        await browser.post("/sign-out", data={"csrf_token": csrf_of(page)})
    async with asgi_client(app) as thief:
        thief.cookies.set(SESSION_COOKIE, stolen)
        assert (await thief.get("/")).status_code == 303
        assert (await thief.get("/api/me")).status_code == 401


async def test_user_provided_names_render_inert(app: FastAPI) -> None:
    async with asgi_client(app) as browser:
        signed_up = await submit(
            browser,
            "/sign-up",
            "/sign-up",
            {
                "email": "mallory@example.com",
                "password": PASSWORD,
                "name": XSS,
                "organization_name": XSS,
            },
        )
        assert signed_up.status_code == 303, signed_up.text
        page = await browser.get("/")
        assert page.status_code == 200
        assert XSS not in page.text
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page.text
        # A refused sign-up echoes the typed values back, escaped as well.
        again = await submit(
            browser,
            "/sign-up",
            "/sign-up",
            {"email": "mallory@example.com", "password": PASSWORD, "name": XSS},
        )
        assert again.status_code == 409
        assert XSS not in again.text
        assert "already exists" in again.text


async def test_sign_up_refuses_weak_passwords_without_creating_anything(app: FastAPI) -> None:
    async with asgi_client(app) as browser:
        weak = await submit(
            browser, "/sign-up", "/sign-up", {"email": "new@example.com", "password": "short"}
        )
        assert weak.status_code == 422
        assert "password needs at least" in weak.text
        again = await submit(
            browser, "/sign-up", "/sign-up", {"email": "new@example.com", "password": PASSWORD}
        )
        assert again.status_code == 303


async def test_sign_in_with_the_second_factor(app: FastAPI, owner: ApiClient) -> None:
    secret = (await owner.post("/api/auth/mfa/enroll")).json()["secret"]
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.now(UTC))
    confirmed = await owner.post("/api/auth/mfa/confirm", json={"code": totp.generate_otp(step)})
    assert confirmed.status_code == 200
    async with asgi_client(app) as browser:
        pending = await _sign_in(browser, owner.email, next_url="/?after=mfa")
        assert pending.status_code == 200
        assert "Two-factor authentication" in pending.text
        assert not browser.cookies.get(SESSION_COOKIE)
        # The pending token waits in an HttpOnly cookie, never in the page.
        assert "mfa_" not in pending.text
        token = csrf_of(pending)
        wrong = await browser.post(
            "/sign-in/mfa", data={"csrf_token": token, "code": "000000", "next": "/?after=mfa"}
        )
        assert wrong.status_code == 401
        assert "the code is wrong" in wrong.text
        done = await browser.post(
            "/sign-in/mfa",
            data={"csrf_token": token, "code": totp.generate_otp(step + 1), "next": "/?after=mfa"},
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/?after=mfa"
        assert (await browser.get("/")).status_code == 200


async def test_overview_counts_blocked_calls_and_links_each_number(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await create_policy(owner)
    key = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=key["key"]) as agent:
        for command in ("rm -rf /", "rm -rf /tmp"):
            body = {
                "name": "tool.shell",
                "attributes": {
                    "gen_ai.tool.name": "shell",
                    "corral.tool.args": json.dumps({"command": command}),
                },
            }
            assert (await agent.post("/api/decisions", json=body)).json()["action"] == "block"
    halted = await owner.post("/api/halts", json={"scope": "application", "reason": "r"})
    assert halted.status_code == 201, halted.text
    async with asgi_client(app) as browser:
        await _sign_in(browser, owner.email)
        page = (await browser.get("/")).text
    assert 'href="/runs?status=queued"' in page
    assert 'href="/approvals?status=pending"' in page
    assert '<a class="tile" href="/halts">' in page
    halts = page.split("active halts")[0].rsplit('class="tile-value">', 1)[1]
    assert halts.startswith("1<")
    assert "blocked calls (24 h)" in page
    blocked = page.split("blocked calls")[0].rsplit('class="tile-value">', 1)[1]
    assert blocked.startswith("2<")
    assert '<a class="tile" href="/webhooks">' in page
    # Another organization's overview counts none of them.
    async with asgi_client(app) as browser:
        await _sign_in(browser, stranger.email)
        other = (await browser.get("/")).text
    assert other.split("blocked calls")[0].rsplit('class="tile-value">', 1)[1].startswith("0<")


async def test_invitation_link_signs_up_into_the_inviting_org(
    app: FastAPI, owner: ApiClient
) -> None:
    created = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations",
        json={"email": "carol@example.com", "role": "viewer"},
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    async with asgi_client(app) as browser:
        page = await browser.get("/invitations/accept", params={"token": token})
        assert page.status_code == 200
        assert f"/sign-up?invitation_token={token}" in page.text
        joined = await submit(
            browser,
            f"/sign-up?invitation_token={token}",
            "/sign-up",
            {"email": "carol@example.com", "password": PASSWORD, "invitation_token": token},
        )
        assert joined.status_code == 303, joined.text
        me = (await browser.get("/api/me")).json()
        assert [m["org_id"] for m in me["memberships"]] == [owner.org_id]
        assert me["memberships"][0]["role"] == "viewer"


async def test_signed_in_user_accepts_an_invitation(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    created = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": stranger.email, "role": "member"}
    )
    token = created.json()["token"]
    async with asgi_client(app) as browser:
        await _sign_in(browser, stranger.email)
        page = await browser.get("/invitations/accept", params={"token": token})
        assert "Accept and join" in page.text
        refused = await browser.post("/invitations/accept", data={"token": token})
        assert refused.status_code == 403
        accepted = await browser.post(
            "/invitations/accept", data={"token": token, "csrf_token": csrf_of(page)}
        )
        assert accepted.status_code == 303
        again = await browser.post(
            "/invitations/accept", data={"token": token, "csrf_token": csrf_of(page)}
        )
        assert again.status_code == 422
        assert "already" in again.text or "invitation" in again.text
        orgs = {m["org_id"] for m in (await browser.get("/api/me")).json()["memberships"]}
        assert owner.org_id in orgs


async def test_password_reset_link_sets_a_new_password(app: FastAPI, owner: ApiClient) -> None:
    container: Container = app.state.container
    async with transaction(container.sessions) as session:
        reset = await password_reset.request(
            session, container.accounts, email=owner.email, actor=Actor.system("test")
        )
    assert reset is not None
    async with asgi_client(app) as browser:
        bad = await submit(
            browser,
            "/password-reset?token=pwr_unknown",
            "/password-reset",
            {"token": "pwr_unknown", "new_password": "a new long password"},
        )
        assert bad.status_code == 422
        assert "unknown, used or expired" in bad.text
        page = await browser.get("/password-reset", params={"token": reset.token})
        assert page.headers["referrer-policy"] == "no-referrer"
        done = await browser.post(
            "/password-reset",
            data={
                "csrf_token": csrf_of(page),
                "token": reset.token,
                "new_password": "a new long password",
            },
        )
        assert done.status_code == 200
        assert "Password changed" in done.text
        signed_in = await submit(
            browser,
            "/sign-in",
            "/sign-in",
            {"email": owner.email, "password": "a new long password"},
        )
        assert signed_in.status_code == 303
    # Every earlier session of the account ended.
    assert (await owner.get("/api/me")).status_code == 401


async def test_htmx_posts_send_the_token_in_the_header(app: FastAPI, owner: ApiClient) -> None:
    async with asgi_client(app) as browser:
        await _sign_in(browser, owner.email)
        page = await browser.get("/")
        # What base.html gives htmx: hx-headers on <body>, JSON-encoded inside the attribute.
        assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf_of(page)}"}}\'' in page.text
        htmx = {"HX-Request": "true"}
        refused = await browser.post("/sign-out", headers=htmx)
        assert refused.status_code == 403
        out = await browser.post("/sign-out", headers={**htmx, "X-CSRF-Token": csrf_of(page)})
        assert out.status_code == 204
        assert out.headers["hx-redirect"] == "/sign-in"
        assert (await browser.get("/")).status_code == 303


async def _plain_user(app: FastAPI, email: str, *, must_change_password: bool = False) -> None:
    container: Container = app.state.container
    async with transaction(container.sessions) as session:
        await accounts.create_user(
            session,
            container.accounts,
            email=email,
            password=PASSWORD,
            name="Plain",
            actor=Actor.system("test"),
            must_change_password=must_change_password,
        )


async def test_a_user_without_an_organization_sees_no_numbers(app: FastAPI) -> None:
    await _plain_user(app, "loner@example.com")
    async with asgi_client(app) as browser:
        assert (await _sign_in(browser, "loner@example.com")).status_code == 303
        page = await browser.get("/")
        assert page.status_code == 200
        assert "You belong to no organization yet" in page.text
        assert "tile-value" not in page.text


async def test_a_temporary_password_must_be_changed_first(app: FastAPI) -> None:
    await _plain_user(app, "temp@example.com", must_change_password=True)
    async with asgi_client(app) as browser:
        assert (await _sign_in(browser, "temp@example.com")).status_code == 303
        page = await browser.get("/")
        assert page.status_code == 303
        assert page.headers["location"] == "/account"


async def test_sign_in_page_sends_the_signed_in_on(app: FastAPI, owner: ApiClient) -> None:
    async with asgi_client(app) as browser:
        await _sign_in(browser, owner.email)
        again = await browser.get("/sign-in", params={"next": "/?x=1"})
        assert again.status_code == 303
        assert again.headers["location"] == "/?x=1"
        away = await browser.get("/sign-in", params={"next": "//evil.example"})
        assert away.headers["location"] == "/"


async def test_an_expired_session_on_a_form_post_signs_in_to_the_overview(
    app: FastAPI, owner: ApiClient
) -> None:
    async with asgi_client(app) as browser:
        browser.cookies.set(SESSION_COOKIE, "expired")
        out = await browser.post("/sign-out", data={"csrf_token": "x"})
        assert out.status_code == 303
        assert out.headers["location"] == "/sign-in"


async def test_page_errors_are_pages_not_json(client: ApiClient) -> None:
    invalid = await client.get("/password-reset", params={"token": "x" * 500})
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("text/html")
    assert "invalid parameter" in invalid.text
    refused = await client.post("/sign-up", data={"email": "a@example.com"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    # The API keeps answering problem+json.
    api = await client.get("/api/me")
    assert api.headers["content-type"] == "application/problem+json"
