"""Password reset by email through a real SMTP server, completed with the emailed link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from corral.api.app import create_app
from corral.audit.models import AuditEvent
from corral.core.clock import utcnow
from corral.core.settings import Settings
from corral.identity.models import PasswordResetToken
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.conftest import make_settings
from tests.smtp_server import SmtpServer, smtp_server

NEW_PASSWORD = "a fresh and long passphrase"
REQUESTS_PER_HOUR = 3


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path, tls="starttls") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        smtp=smtp.settings(),
        auth={"password_reset_per_hour": REQUESTS_PER_HOUR},
    )


async def _ask(client: ApiClient, email: str) -> None:
    response = await client.post("/api/auth/password-reset", json={"email": email})
    assert response.status_code == 202, response.text


async def _confirm(client: ApiClient, token: str, password: str = NEW_PASSWORD) -> int:
    response = await client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )
    return response.status_code


async def test_reset_by_email_sets_the_password_and_ends_every_session(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    async with asgi_client(app) as other_device, asgi_client(app) as anonymous:
        assert (await other_device.login(owner.email)).status_code == 200
        # Unknown addresses answer the same, and get no email: the first message is the owner's.
        await _ask(anonymous, "nobody@example.com")
        await _ask(anonymous, "OWNER@example.com")
        mail = await smtp.next_message()
        assert mail.rcpt_tos == ["owner@example.com"]
        assert mail.message["Subject"] == "Reset your Corral password"
        assert "http://127.0.0.1:4318/password-reset?token=" in mail.part("plain")

        assert await _confirm(anonymous, mail.token) == 204
        # Every session of the user ended, on each device.
        assert (await owner.get("/api/me")).status_code == 401
        assert (await other_device.get("/api/me")).status_code == 401
        assert (await anonymous.login(owner.email, PASSWORD)).status_code == 401
        assert (await anonymous.login(owner.email, NEW_PASSWORD)).status_code == 200

        # Single use.
        reused = await anonymous.post(
            "/api/auth/password-reset/confirm",
            json={"token": mail.token, "new_password": "yet another passphrase"},
        )
        assert reused.status_code == 422
        assert reused.json()["code"] == "invalid_reset_token"

    async with app.state.container.sessions() as session:
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("user.password_reset%"))
                .order_by(AuditEvent.id)
            )
        )
    assert [(e.action, e.target_id) for e in events] == [
        ("user.password_reset_requested", owner.user_id),
        ("user.password_reset", owner.user_id),
    ]
    assert all(mail.token not in repr(e.details) for e in events)


async def test_expired_link_is_refused(owner: ApiClient, app: FastAPI, smtp: SmtpServer) -> None:
    async with asgi_client(app) as anonymous:
        await _ask(anonymous, owner.email)
        token = (await smtp.next_message()).token
        async with app.state.container.sessions.begin() as session:
            await session.execute(update(PasswordResetToken).values(expires_at=utcnow()))
        response = await anonymous.post(
            "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_reset_token"
        assert (await anonymous.login(owner.email, PASSWORD)).status_code == 200


async def test_a_newer_link_replaces_the_older_and_a_weak_password_keeps_it(
    owner: ApiClient, app: FastAPI, smtp: SmtpServer
) -> None:
    async with asgi_client(app) as anonymous:
        await _ask(anonymous, owner.email)
        first = (await smtp.next_message()).token
        await _ask(anonymous, owner.email)
        second = (await smtp.next_message()).token
        assert await _confirm(anonymous, first) == 422
        weak = await anonymous.post(
            "/api/auth/password-reset/confirm", json={"token": second, "new_password": "short"}
        )
        assert weak.status_code == 422
        assert weak.json()["code"] == "weak_password"
        assert await _confirm(anonymous, second) == 204


async def test_requests_are_rate_limited_per_address(app: FastAPI, smtp: SmtpServer) -> None:
    async with asgi_client(app) as anonymous:
        for number in range(REQUESTS_PER_HOUR):
            await _ask(anonymous, f"someone-{number}@example.com")
        limited = await anonymous.post(
            "/api/auth/password-reset", json={"email": "someone@example.com"}
        )
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert smtp.pending() == 0


async def test_unknown_token_is_refused(client: ApiClient, smtp: SmtpServer) -> None:
    assert await _confirm(client, "pwr_not-a-real-token") == 422


async def test_without_smtp_reset_by_email_says_it_is_unavailable(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url))
    async with app.router.lifespan_context(app), asgi_client(app) as anonymous:
        response = await anonymous.post(
            "/api/auth/password-reset", json={"email": "owner@example.com"}
        )
    assert response.status_code == 403
    assert response.json()["code"] == "email_not_configured"
    assert "corral admin reset-password" in response.json()["detail"]
