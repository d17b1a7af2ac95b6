"""The account page: change the password (also the temporary one, which locks the rest of the
dashboard until changed), and TOTP: enroll with the QR code, confirm (backup codes shown once),
new backup codes, turn off (a wrong proof counts towards lockout)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
from fastapi import FastAPI

from corral.container import Container
from corral.core.db import transaction
from corral.core.request_context import Actor
from corral.identity.models import User
from corral.identity.services import accounts
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.web.admin import signed_in
from tests.web.forms import submit
from tests.web.support import post_form

NEW_PASSWORD = "a different horse battery staple"
_SECRET = re.compile(r'data-testid="mfa-secret">([A-Z2-7]+)<')
_BACKUP = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


async def test_change_password(app: FastAPI, owner: ApiClient) -> None:
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/account")
        assert page.status_code == 200
        assert "Change password" in page.text
        wrong = await post_form(
            browser,
            "/account",
            "/account/password",
            current_password="nope",
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
        assert wrong.status_code == 422
        assert "the current password is wrong" in wrong.text
        differ = await post_form(
            browser,
            "/account",
            "/account/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password="typo",
        )
        assert differ.status_code == 422
        done = await post_form(
            browser,
            "/account",
            "/account/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/account?done=password"
        assert "Your password was changed" in (await browser.get(done.headers["location"])).text
    # The other sessions (the API client's) were signed out; the new password signs in.
    assert (await owner.get("/api/me")).status_code == 401
    async with asgi_client(app) as again:
        assert (await again.login(owner.email, NEW_PASSWORD)).status_code == 200


async def test_a_temporary_password_opens_only_the_account_page(app: FastAPI) -> None:
    container: Container = app.state.container
    async with transaction(container.sessions) as session:
        user = await accounts.create_user(
            session,
            container.accounts,
            email="temp@example.com",
            password=PASSWORD,
            name="Temp",
            actor=Actor.system("test"),
            must_change_password=True,
        )
    async with asgi_client(app) as browser:
        signed = await submit(
            browser, "/sign-in", "/sign-in", {"email": "temp@example.com", "password": PASSWORD}
        )
        assert signed.status_code == 303
        for path in ("/", "/runs", "/settings/application", "/connect"):
            assert (await browser.get(path)).headers["location"] == "/account"
        page = await browser.get("/account")
        assert page.status_code == 200
        assert 'data-testid="temporary-password"' in page.text
        assert 'href="/runs"' not in page.text  # no menu yet
        assert "Two-factor" not in page.text
        refused = await post_form(browser, "/account", "/account/mfa/enroll")
        assert refused.headers["location"] == "/account"
        done = await post_form(
            browser,
            "/account",
            "/account/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/"
        overview = await browser.get("/")
        assert overview.status_code == 200
        assert 'href="/onboarding"' in overview.text
    async with transaction(container.sessions) as session:
        changed = await session.get(User, user.id)
        assert changed is not None
        assert not changed.must_change_password


async def test_two_factor_enroll_confirm_regenerate_and_turn_off(
    app: FastAPI, owner: ApiClient
) -> None:
    container: Container = app.state.container
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/account")
        assert 'data-testid="mfa-state">off<' in page.text
        enrolled = await post_form(browser, "/account", "/account/mfa/enroll")
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.headers["cache-control"] == "no-store"
        assert 'src="data:image/svg+xml;base64,' in enrolled.text
        assert "<svg" not in enrolled.text  # an image, not markup of ours in the page
        found = _SECRET.search(enrolled.text)
        assert found is not None
        totp = pyotp.TOTP(found.group(1))
        # Shown once: a reload says it waits for a code, without the secret.
        pending = await browser.get("/account")
        assert found.group(1) not in pending.text
        assert "waiting for a code" in pending.text
        wrong = await post_form(browser, "/account", "/account/mfa/confirm", code="000000")
        assert wrong.status_code == 422
        step = totp.timecode(datetime.now(UTC))
        confirmed = await post_form(
            browser, "/account", "/account/mfa/confirm", code=totp.generate_otp(step)
        )
        assert confirmed.status_code == 200, confirmed.text
        codes = _BACKUP.findall(confirmed.text)
        assert len(codes) == 10
        on = await browser.get("/account")
        assert 'data-testid="mfa-state">on<' in on.text
        assert codes[0] not in on.text
        assert "Backup codes left: 10" in on.text
        fresh = await post_form(
            browser, "/account", "/account/mfa/backup-codes", code=totp.generate_otp(step + 1)
        )
        assert fresh.status_code == 200
        assert set(_BACKUP.findall(fresh.text)).isdisjoint(codes)
        wrong_proof = await post_form(
            browser, "/account", "/account/mfa/disable", password="not it"
        )
        assert wrong_proof.status_code == 422
        assert "the password or code is wrong" in wrong_proof.text
        async with transaction(container.sessions) as session:
            counted = await session.get(User, owner.user_id)
            assert counted is not None
            assert counted.failed_login_count == 1
            assert counted.mfa_enabled
        off = await post_form(browser, "/account", "/account/mfa/disable", password=PASSWORD)
        assert off.status_code == 303, off.text
        assert (
            "Two-factor authentication is off" in (await browser.get(off.headers["location"])).text
        )
    me = (await owner.get("/api/auth/mfa")).json()
    assert me["enabled"] is False


async def test_account_forms_need_the_token(app: FastAPI, owner: ApiClient) -> None:
    owner.headers.pop("X-CSRF-Token")
    for action in ("/account/password", "/account/mfa/enroll", "/account/mfa/disable"):
        refused = await owner.post(action, data={"current_password": PASSWORD})
        assert refused.status_code == 403, action
    assert (await owner.get("/account")).status_code == 200
