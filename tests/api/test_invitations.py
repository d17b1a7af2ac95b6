"""Invitations by email through a real SMTP server: the link in the email completes the flow.

Also: without SMTP the inviting admin gets the link (`email_sent: false`), tokens are single-use
and bound to the invited address, resend replaces the link, and other organizations see 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.api.app import create_app
from corral.audit.models import AuditEvent
from corral.core.settings import Settings
from corral.identity.models import Invitation
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.conftest import make_settings
from tests.smtp_server import SmtpServer, smtp_server

# The test settings' CORRAL_PUBLIC_URL (http on loopback, so the session cookie is not Secure).
PUBLIC_URL = "http://127.0.0.1:4318"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path, tls="starttls") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, database_url, smtp=smtp.settings())


async def _invite(owner: ApiClient, email: str, role: str = "member") -> dict[str, object]:
    response = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_new_user_registers_with_the_emailed_link(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    created = await _invite(owner, "Bob@Example.com", "admin")
    # Sent: the link travels only in the email, never back to the admin.
    assert (created["email_sent"], created["token"], created["accept_url"]) == (True, None, None)
    mail = await smtp.next_message()
    assert mail.rcpt_tos == ["bob@example.com"]
    assert mail.encrypted
    assert mail.authenticated_as == "corral-mailer"
    assert mail.message["Subject"] == "You are invited to Acme on Corral"
    plain = mail.part("plain")
    assert "owner@example.com invited you" in plain
    assert "as admin" in plain
    assert f"{PUBLIC_URL}/invitations/accept?token={mail.token}" in plain

    async with asgi_client(app) as bob:
        await bob.register("bob@example.com", invitation_token=mail.token)
        me = (await bob.get("/api/me")).json()
        assert [(m["org_id"], m["role"]) for m in me["memberships"]] == [(owner.org_id, "admin")]
    listed = (await owner.get(f"/api/orgs/{owner.org_id}/invitations")).json()
    assert listed[0]["accepted_at"] is not None
    # Single use.
    async with asgi_client(app) as again:
        reused = await again.post(
            "/api/auth/register",
            json={"email": "bob@example.com", "password": PASSWORD, "invitation_token": mail.token},
        )
    assert reused.status_code in (409, 422)


async def test_signed_in_user_accepts_with_the_emailed_link(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    async with asgi_client(app) as carol, asgi_client(app) as eve:
        await carol.register("carol@example.com", org="Carol's")
        await eve.register("eve@example.com", org="Eve's")
        await _invite(owner, "carol@example.com", "viewer")
        token = (await smtp.next_message()).token

        # The token is bound to the invited address: someone else signed in cannot use it.
        stolen = await eve.post("/api/invitations/accept", json={"token": token})
        assert stolen.status_code == 422
        assert stolen.json()["code"] == "invalid_invitation"

        accepted = await carol.post("/api/invitations/accept", json={"token": token})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"org_id": owner.org_id, "role": "viewer"}
        orgs = {o["id"]: o["role"] for o in (await carol.get("/api/orgs")).json()}
        assert orgs[owner.org_id] == "viewer"

        again = await carol.post("/api/invitations/accept", json={"token": token})
        assert again.status_code == 422


async def test_resend_replaces_the_link_and_revoke_ends_it(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    created = await _invite(owner, "dan@example.com")
    first = (await smtp.next_message()).token
    resent = await owner.post(f"/api/orgs/{owner.org_id}/invitations/{created['id']}/resend")
    assert resent.status_code == 200, resent.text
    assert resent.json()["email_sent"] is True
    second = (await smtp.next_message()).token
    assert second != first

    async with asgi_client(app) as dan:
        old = await dan.post(
            "/api/auth/register",
            json={"email": "dan@example.com", "password": PASSWORD, "invitation_token": first},
        )
        assert old.status_code == 422
        assert old.json()["code"] == "invalid_invitation"

    revoked = await owner.delete(f"/api/orgs/{owner.org_id}/invitations/{created['id']}")
    assert revoked.status_code == 204
    async with asgi_client(app) as dan:
        after = await dan.post(
            "/api/auth/register",
            json={"email": "dan@example.com", "password": PASSWORD, "invitation_token": second},
        )
        assert after.status_code == 422

    async with app.state.container.sessions() as session:
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.target_id == created["id"])
                .order_by(AuditEvent.id)
            )
        )
    assert [e.action for e in events] == [
        "invitation.created",
        "invitation.resent",
        "invitation.revoked",
    ]
    assert all(first not in repr(e.details) and second not in repr(e.details) for e in events)


async def test_accepted_invitation_cannot_be_resent(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    created = await _invite(owner, "erin@example.com")
    async with asgi_client(app) as erin:
        await erin.register("erin@example.com", invitation_token=(await smtp.next_message()).token)
    resent = await owner.post(f"/api/orgs/{owner.org_id}/invitations/{created['id']}/resend")
    assert resent.status_code == 409
    assert resent.json()["code"] == "invitation_accepted"


async def test_expired_invitation_is_refused(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    created = await _invite(owner, "fay@example.com")
    token = (await smtp.next_message()).token
    async with app.state.container.sessions.begin() as session:
        invitation = await session.get(Invitation, created["id"])
        assert invitation is not None
        invitation.expires_at = invitation.created_at
    async with asgi_client(app) as fay:
        response = await fay.post(
            "/api/auth/register",
            json={"email": "fay@example.com", "password": PASSWORD, "invitation_token": token},
        )
    assert response.status_code == 422


async def test_members_cannot_invite(owner: ApiClient, app: FastAPI, smtp: SmtpServer) -> None:
    await _invite(owner, "gus@example.com", "member")
    async with asgi_client(app) as gus:
        await gus.register("gus@example.com", invitation_token=(await smtp.next_message()).token)
        refused = await gus.post(
            f"/api/orgs/{owner.org_id}/invitations", json={"email": "x@example.com"}
        )
    assert refused.status_code == 403


async def test_other_organizations_invitations_are_404(
    owner: ApiClient, stranger: ApiClient, smtp: SmtpServer
) -> None:
    created = await _invite(owner, "hal@example.com")
    base = f"/api/orgs/{owner.org_id}/invitations"
    assert (await stranger.get(base)).status_code == 404
    assert (await stranger.post(base, json={"email": "x@example.com"})).status_code == 404
    assert (await stranger.delete(f"{base}/{created['id']}")).status_code == 404
    assert (await stranger.post(f"{base}/{created['id']}/resend")).status_code == 404
    # Through the stranger's own organization: the invitation is not there either.
    own = f"/api/orgs/{stranger.org_id}/invitations/{created['id']}"
    assert (await stranger.delete(own)).status_code == 404
    assert (await stranger.post(f"{own}/resend")).status_code == 404
    # Only the one email was sent, and the invitation is untouched.
    assert smtp.pending() == 1
    listed = (await owner.get(base)).json()
    assert [i["id"] for i in listed] == [created["id"]]


@pytest.fixture
async def unmailed_owner(tmp_path: Path, database_url: str) -> AsyncIterator[ApiClient]:
    app = create_app(make_settings(tmp_path, database_url, public_url="http://localhost:9000/"))
    async with app.router.lifespan_context(app), asgi_client(app) as owner:
        await owner.register("owner@example.com", org="Acme")
        yield owner


async def test_without_smtp_the_admin_gets_the_link(unmailed_owner: ApiClient) -> None:
    created = await _invite(unmailed_owner, "ivy@example.com")
    assert created["email_sent"] is False
    token = created["token"]
    assert isinstance(token, str)
    assert token.startswith("inv_")
    assert created["accept_url"] == f"http://localhost:9000/invitations/accept?token={token}"


async def test_a_failed_delivery_gives_the_admin_the_link(
    tmp_path: Path, database_url: str
) -> None:
    with smtp_server(tmp_path, tls="starttls") as server:
        smtp = server.settings()
    # The server is gone: delivery fails, the invitation stands and the admin gets the link.
    app = create_app(make_settings(tmp_path, database_url, smtp=smtp))
    async with app.router.lifespan_context(app), asgi_client(app) as owner:
        await owner.register("owner@example.com", org="Acme")
        created = await _invite(owner, "jo@example.com")
        assert created["email_sent"] is False
        token = created["token"]
        assert isinstance(token, str)
        async with asgi_client(app) as jo:
            await jo.register("jo@example.com", invitation_token=token)
            assert (await jo.get("/api/orgs")).json()[0]["id"] == owner.org_id
