"""Members and invitations: roles, removal, one owner kept, invite (the link shown when no
email went out), resend, revoke."""

from __future__ import annotations

import re

from fastapi import FastAPI

from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.web.admin import ESCAPED_XSS, XSS, add_member, signed_in
from tests.web.forms import csrf_of

_ACCEPT = re.compile(r'value="(http[^"]*/invitations/accept\?token=([^"]+))"')


async def _roles(owner: ApiClient) -> dict[str, str]:
    members = (await owner.get(f"/api/orgs/{owner.org_id}/members")).json()
    return {m["email"]: m["role"] for m in members}


async def test_invite_shows_the_link_when_no_email_went_out_then_resend_and_revoke(
    app: FastAPI, owner: ApiClient
) -> None:
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/members")
        assert page.status_code == 200
        assert "owner@example.com" in page.text
        invited = await browser.post(
            "/members/invitations",
            data={"csrf_token": csrf_of(page), "email": "carol@example.com", "role": "viewer"},
        )
        assert invited.status_code == 200, invited.text
        link = _ACCEPT.search(invited.text)
        assert link is not None
        assert 'data-testid="invitation"' in invited.text
        listed = await browser.get("/members")
        assert link.group(2) not in listed.text
        assert "carol@example.com" in listed.text

        invitation_id = (await owner.get(f"/api/orgs/{owner.org_id}/invitations")).json()[0]["id"]
        resent = await browser.post(
            f"/members/invitations/{invitation_id}/resend", data={"csrf_token": csrf_of(page)}
        )
        assert resent.status_code == 200
        fresh = _ACCEPT.search(resent.text)
        assert fresh is not None
        assert fresh.group(2) != link.group(2)
        async with asgi_client(app) as carol:
            await carol.register("carol@example.com", invitation_token=fresh.group(2))
        assert (await _roles(owner))["carol@example.com"] == "viewer"

        await browser.post(
            "/members/invitations",
            data={"csrf_token": csrf_of(page), "email": "dan@example.com", "role": "member"},
        )
        dan = next(
            i
            for i in (await owner.get(f"/api/orgs/{owner.org_id}/invitations")).json()
            if i["email"] == "dan@example.com"
        )
        revoked = await browser.post(
            f"/members/invitations/{dan['id']}/revoke", data={"csrf_token": csrf_of(page)}
        )
        assert revoked.status_code == 303
        assert "dan@example.com" not in (await browser.get("/members")).text


async def test_roles_change_and_the_last_owner_stays(app: FastAPI, owner: ApiClient) -> None:
    member_id = await add_member(app, owner, "mia@example.com", "member")
    async with signed_in(app, owner.email) as browser:
        token = csrf_of(await browser.get("/members"))
        changed = await browser.post(
            f"/members/{member_id}/role", data={"csrf_token": token, "role": "admin"}
        )
        assert changed.status_code == 303
        assert (await _roles(owner))["mia@example.com"] == "admin"
        demoted = await browser.post(
            f"/members/{owner.user_id}/role", data={"csrf_token": token, "role": "admin"}
        )
        assert demoted.status_code == 409
        assert "at least one owner" in demoted.text
        leaving = await browser.post(f"/members/{owner.user_id}/remove", data={"csrf_token": token})
        assert leaving.status_code == 409
        assert (await _roles(owner))["owner@example.com"] == "owner"
        removed = await browser.post(f"/members/{member_id}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert "mia@example.com" not in await _roles(owner)


async def test_admins_cannot_touch_owners_and_viewers_see_no_controls(
    app: FastAPI, owner: ApiClient
) -> None:
    await add_member(app, owner, "ada@example.com", "admin")
    viewer_id = await add_member(app, owner, "vera@example.com", "viewer")
    async with signed_in(app, "ada@example.com") as browser:
        page = await browser.get("/members")
        assert f'action="/members/{owner.user_id}/role"' not in page.text
        assert '<option value="owner"' not in page.text
        assert f'action="/members/{viewer_id}/role"' in page.text
        refused = await browser.post(
            f"/members/{owner.user_id}/role", data={"csrf_token": csrf_of(page), "role": "viewer"}
        )
        assert refused.status_code == 403
    async with signed_in(app, "vera@example.com") as browser:
        page = await browser.get("/members")
        assert page.status_code == 200
        assert "owner@example.com" in page.text
        for control in ("Change role", "/remove", "Send invitation", "Pending invitations"):
            assert control not in page.text
        forged = await browser.post(
            f"/members/{owner.user_id}/role", data={"csrf_token": csrf_of(page), "role": "viewer"}
        )
        assert forged.status_code == 403
        invite = await browser.post(
            "/members/invitations",
            data={"csrf_token": csrf_of(page), "email": "x@example.com", "role": "viewer"},
        )
        assert invite.status_code == 403
    assert (await _roles(owner))["owner@example.com"] == "owner"


async def test_another_orgs_members_and_invitations_are_not_found(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    theirs = await stranger.post(
        f"/api/orgs/{stranger.org_id}/invitations",
        json={"email": "z@example.com", "role": "viewer"},
    )
    invitation_id = theirs.json()["id"]
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/members")
        assert stranger.email not in page.text
        token = csrf_of(page)
        role = await browser.post(
            f"/members/{stranger.user_id}/role", data={"csrf_token": token, "role": "viewer"}
        )
        assert role.status_code == 404
        remove = await browser.post(
            f"/members/{stranger.user_id}/remove", data={"csrf_token": token}
        )
        assert remove.status_code == 404
        for action in ("resend", "revoke"):
            missing = await browser.post(
                f"/members/invitations/{invitation_id}/{action}", data={"csrf_token": token}
            )
            assert missing.status_code == 404
        no_token = await browser.post(f"/members/{owner.user_id}/remove", data={})
        assert no_token.status_code == 403
        no_token_invite = await browser.post(
            "/members/invitations", data={"email": "x@example.com", "role": "viewer"}
        )
        assert no_token_invite.status_code == 403
    assert len((await stranger.get(f"/api/orgs/{stranger.org_id}/invitations")).json()) == 1
    assert len((await owner.get(f"/api/orgs/{owner.org_id}/invitations")).json()) == 0


async def test_member_names_render_inert(app: FastAPI, owner: ApiClient) -> None:
    invited = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": "m@example.com", "role": "member"}
    )
    async with asgi_client(app) as joining:
        registered = await joining.post(
            "/api/auth/register",
            json={
                "email": "m@example.com",
                "password": PASSWORD,
                "name": XSS,
                "invitation_token": invited.json()["token"],
            },
        )
        assert registered.status_code == 201, registered.text
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/members")
        assert XSS not in page.text
        assert ESCAPED_XSS in page.text
