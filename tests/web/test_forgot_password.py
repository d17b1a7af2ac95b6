"""Forgot password on the dashboard: the request form, the email through a real SMTP server,
and the emailed link opening the page that sets the new password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from corral.api.app import create_app
from corral.api.deps import CSRF_COOKIE, SESSION_COOKIE
from corral.core.settings import Settings
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.smtp_server import SmtpServer, smtp_server
from tests.web.forms import csrf_of, submit

PUBLIC_URL = "http://127.0.0.1:4318"
NEW_PASSWORD = "a fresh and long passphrase"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path, tls="starttls") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(
        tmp_path, database_url, smtp=smtp.settings(), auth={"password_reset_per_hour": 2}
    )


async def test_forgot_password_by_email_end_to_end(
    app: FastAPI, owner: ApiClient, smtp: SmtpServer
) -> None:
    async with asgi_client(app) as browser:
        sign_in = await browser.get("/sign-in")
        assert 'href="/password-reset"' in sign_in.text
        asked = await submit(
            browser, "/password-reset", "/password-reset/request", {"email": "OWNER@example.com"}
        )
        assert asked.status_code == 200
        assert "If an account has this address" in asked.text
        mail = await smtp.next_message()
        assert mail.rcpt_tos == [owner.email]
        link = next(
            line for line in mail.part("plain").splitlines() if "/password-reset?token=" in line
        )
        page = await browser.get(link.strip().removeprefix(PUBLIC_URL))
        assert page.status_code == 200
        assert "New password" in page.text
        done = await browser.post(
            "/password-reset",
            data={"csrf_token": csrf_of(page), "token": mail.token, "new_password": NEW_PASSWORD},
        )
        assert "Password changed" in done.text
        signed_in = await submit(
            browser, "/sign-in", "/sign-in", {"email": owner.email, "password": NEW_PASSWORD}
        )
        assert signed_in.status_code == 303
        assert browser.cookies.get(SESSION_COOKIE)
    assert (await owner.get("/api/me")).status_code == 401


async def test_unknown_addresses_answer_the_same_and_requests_are_limited(
    app: FastAPI, owner: ApiClient
) -> None:
    async with asgi_client(app) as browser:
        texts = []
        for email in ("nobody@example.com", owner.email):
            answer = await submit(
                browser, "/password-reset", "/password-reset/request", {"email": email}
            )
            assert answer.status_code == 200
            texts.append(answer.text)
        assert texts[0] == texts[1]
        limited = await submit(
            browser, "/password-reset", "/password-reset/request", {"email": owner.email}
        )
        assert limited.status_code == 429
        assert "Too many reset requests" in limited.text
        refused = await browser.post("/password-reset/request", data={"email": owner.email})
        assert refused.status_code == 403


async def test_without_email_the_page_points_to_the_administrator(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url))
    async with app.router.lifespan_context(app), asgi_client(app) as browser:
        page = await browser.get("/password-reset")
        assert "corral admin reset-password" in page.text
        # The pre-session token is the cookie the page set (the page has no form to read).
        token = browser.cookies[CSRF_COOKIE]
        refused = await browser.post(
            "/password-reset/request", data={"email": "a@example.com", "csrf_token": token}
        )
        assert refused.status_code == 403
        assert "corral admin reset-password" in refused.text
