"""TOTP two-factor authentication: enrollment, the pending sign-in token, replay, backup codes,
lockout, disabling, and the secret sealed at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.api.deps import SESSION_COOKIE
from corral.audit.models import AuditEvent
from corral.core.settings import Settings
from corral.identity.models import MfaBackupCode, User
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.conftest import make_settings

MAX_FAILURES = 3


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, auth={"login_max_failures": MAX_FAILURES})


class Authenticator:
    """The user's authenticator app; codes by explicit time step, so no test depends on when
    it runs within a 30-second window."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.step = self.totp.timecode(datetime.now(UTC))

    def code(self, offset: int = 0) -> str:
        # The server accepts the previous, current and next step.
        return self.totp.generate_otp(self.step + offset)


async def _enable(client: ApiClient) -> tuple[Authenticator, list[str]]:
    enrolled = await client.post("/api/auth/mfa/enroll")
    assert enrolled.status_code == 200, enrolled.text
    body = enrolled.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Corral:")
    assert body["qr_svg"].startswith("<svg")
    status = (await client.get("/api/auth/mfa")).json()
    assert status == {"enabled": False, "pending_enrollment": True, "backup_codes_remaining": 0}
    app = Authenticator(body["secret"])
    confirmed = await client.post("/api/auth/mfa/confirm", json={"code": app.code()})
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["backup_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    return app, codes


async def _pending(client: ApiClient, email: str) -> dict[str, Any]:
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["mfa_required"] is True
    assert SESSION_COOKIE not in response.cookies
    return body


async def _verify(client: ApiClient, mfa_token: str, code: str) -> Any:
    return await client.post("/api/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code})


async def test_sign_in_with_a_second_factor(owner: ApiClient, app: FastAPI) -> None:
    authenticator, _ = await _enable(owner)
    assert (await owner.get("/api/me")).json()["user"]["mfa_enabled"] is True
    async with asgi_client(app) as laptop:
        pending = await _pending(laptop, owner.email)
        verified = await _verify(laptop, pending["mfa_token"], authenticator.code(1))
        assert verified.status_code == 200, verified.text
        laptop.headers["X-CSRF-Token"] = verified.json()["csrf_token"]
        assert (await laptop.get("/api/me")).json()["user"]["id"] == owner.user_id
        # The pending token is spent.
        again = await _verify(laptop, pending["mfa_token"], authenticator.code(0))
        assert again.status_code == 401
        assert again.json()["code"] == "invalid_mfa_token"


async def test_the_pending_token_is_not_a_session(owner: ApiClient, app: FastAPI) -> None:
    await _enable(owner)
    async with asgi_client(app) as laptop:
        token = (await _pending(laptop, owner.email))["mfa_token"]
    for path in ("/api/me", "/api/apps", "/api/orgs", "/api/auth/mfa"):
        async with asgi_client(app) as as_cookie:
            as_cookie.cookies.set(SESSION_COOKIE, token)
            response = await as_cookie.get(path)
            assert response.status_code == 401, (path, response.text)
        async with asgi_client(app, token=token) as as_bearer:
            response = await as_bearer.get(path)
            assert response.status_code == 401, (path, response.text)
    async with asgi_client(app) as as_cookie:
        as_cookie.cookies.set(SESSION_COOKIE, token)
        refused = await as_cookie.post("/api/auth/mfa/disable", json={"password": PASSWORD})
        assert refused.status_code in (401, 403)


async def test_a_code_cannot_be_used_twice(owner: ApiClient, app: FastAPI) -> None:
    authenticator, _ = await _enable(owner)
    async with asgi_client(app) as laptop:
        # The code that confirmed enrollment is spent, and so is every earlier step.
        pending = await _pending(laptop, owner.email)
        for code in (authenticator.code(0), authenticator.code(-1)):
            replay = await _verify(laptop, pending["mfa_token"], code)
            assert replay.status_code == 401
            assert replay.json()["code"] == "invalid_mfa_code"
        assert (
            await _verify(laptop, pending["mfa_token"], authenticator.code(1))
        ).status_code == 200
    async with asgi_client(app) as phone:
        pending = await _pending(phone, owner.email)
        replay = await _verify(phone, pending["mfa_token"], authenticator.code(1))
        assert replay.status_code == 401


async def test_backup_codes_work_once(owner: ApiClient, app: FastAPI) -> None:
    _, codes = await _enable(owner)
    async with asgi_client(app) as laptop:
        pending = await _pending(laptop, owner.email)
        # Case and separators do not matter when typed.
        typed = codes[0].upper().replace("-", " ")
        assert (await _verify(laptop, pending["mfa_token"], typed)).status_code == 200
        pending = await _pending(laptop, owner.email)
        assert (await _verify(laptop, pending["mfa_token"], codes[0])).status_code == 401
    assert (await owner.get("/api/auth/mfa")).json()["backup_codes_remaining"] == 9
    async with app.state.container.sessions() as session:
        stored = list(await session.scalars(select(MfaBackupCode.code_digest)))
    assert not any(code.replace("-", "") in digest for code in codes for digest in stored)


async def test_wrong_codes_count_towards_lockout(owner: ApiClient, app: FastAPI) -> None:
    authenticator, _ = await _enable(owner)
    async with asgi_client(app) as attacker:
        for _ in range(MAX_FAILURES - 1):
            pending = await _pending(attacker, owner.email)
            assert (await _verify(attacker, pending["mfa_token"], "000000")).status_code == 401
        # The right password does not reset the count while the second factor is missing.
        pending = await _pending(attacker, owner.email)
        locked = await _verify(attacker, pending["mfa_token"], "000000")
        assert locked.status_code == 401
        # Locked: even the right code and the right password are refused now.
        refused = await _verify(attacker, pending["mfa_token"], authenticator.code(1))
        assert refused.status_code == 401
        login = await attacker.post(
            "/api/auth/login", json={"email": owner.email, "password": PASSWORD}
        )
        assert login.json()["code"] == "account_locked"
    async with app.state.container.sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.action.in_(["user.mfa_failed", "user.locked"])
                )
            )
        )
    assert sorted(actions) == sorted(["user.mfa_failed"] * MAX_FAILURES + ["user.locked"])


async def test_disable_needs_the_password_or_a_code(owner: ApiClient, app: FastAPI) -> None:
    authenticator, _ = await _enable(owner)
    wrong = await owner.post("/api/auth/mfa/disable", json={"password": "not the password"})
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "reauthentication_failed"
    assert (await owner.post("/api/auth/mfa/disable", json={})).status_code == 422
    done = await owner.post("/api/auth/mfa/disable", json={"code": authenticator.code(1)})
    assert done.status_code == 204, done.text
    assert (await owner.get("/api/auth/mfa")).json() == {
        "enabled": False,
        "pending_enrollment": False,
        "backup_codes_remaining": 0,
    }
    async with asgi_client(app) as laptop:
        assert (await laptop.login(owner.email)).status_code == 200
    async with app.state.container.sessions() as session:
        user = await session.get(User, owner.user_id)
        assert user is not None
        assert (user.totp_secret_encrypted, user.totp_last_step) == (None, None)


async def test_backup_codes_can_be_replaced(owner: ApiClient, app: FastAPI) -> None:
    authenticator, old = await _enable(owner)
    wrong = await owner.post("/api/auth/mfa/backup-codes", json={"code": "123456"})
    assert wrong.status_code == 422
    renewed = await owner.post("/api/auth/mfa/backup-codes", json={"code": authenticator.code(1)})
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()["backup_codes"]
    assert not set(new) & set(old)
    async with asgi_client(app) as laptop:
        pending = await _pending(laptop, owner.email)
        assert (await _verify(laptop, pending["mfa_token"], old[0])).status_code == 401
        assert (await _verify(laptop, pending["mfa_token"], new[0])).status_code == 200


async def test_enrollment_rules(owner: ApiClient, app: FastAPI) -> None:
    early = await owner.post("/api/auth/mfa/confirm", json={"code": "123456"})
    assert early.json()["code"] == "mfa_not_enrolled"
    enrolled = (await owner.post("/api/auth/mfa/enroll")).json()
    wrong = await owner.post("/api/auth/mfa/confirm", json={"code": "12345x"})
    assert wrong.json()["code"] == "invalid_mfa_code"
    # Unconfirmed, sign-in is unchanged.
    async with asgi_client(app) as laptop:
        assert (await laptop.login(owner.email)).status_code == 200
    code = pyotp.TOTP(enrolled["secret"]).now()
    assert (await owner.post("/api/auth/mfa/confirm", json={"code": code})).status_code == 200
    again = await owner.post("/api/auth/mfa/enroll")
    assert again.status_code == 409
    assert again.json()["code"] == "mfa_already_enabled"
    key = await owner.create_key(["apps:read"])
    async with asgi_client(app, token=key["key"]) as with_key:
        refused = await with_key.post("/api/auth/mfa/enroll")
        assert refused.json()["code"] == "user_session_required"


async def test_the_secret_is_sealed_at_rest_and_audited_without_it(
    owner: ApiClient, app: FastAPI
) -> None:
    enrolled = (await owner.post("/api/auth/mfa/enroll")).json()
    code = pyotp.TOTP(enrolled["secret"]).now()
    assert (await owner.post("/api/auth/mfa/confirm", json={"code": code})).status_code == 200
    async with app.state.container.sessions() as session:
        user = await session.get(User, owner.user_id)
        assert user is not None
        assert user.totp_secret_encrypted is not None
        assert enrolled["secret"] not in user.totp_secret_encrypted
        assert user.totp_secret_encrypted.startswith("v1.")
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("user.mfa%"))
                .order_by(AuditEvent.id)
            )
        )
    assert [e.action for e in events] == ["user.mfa_enrollment_started", "user.mfa_enrolled"]
    assert all(enrolled["secret"] not in repr(e.details) for e in events)


async def test_a_session_cannot_guess_the_password_through_disable(
    owner: ApiClient, app: FastAPI
) -> None:
    authenticator, _ = await _enable(owner)
    for number in range(MAX_FAILURES):
        guess = await owner.post("/api/auth/mfa/disable", json={"password": f"guess {number}"})
        assert guess.status_code == 422
    # Locked: the right password is refused too, and so is signing in.
    right = await owner.post("/api/auth/mfa/disable", json={"password": PASSWORD})
    assert right.status_code == 401
    assert right.json()["code"] == "account_locked"
    renew = await owner.post("/api/auth/mfa/backup-codes", json={"code": authenticator.code(1)})
    assert renew.json()["code"] == "account_locked"
    async with asgi_client(app) as laptop:
        login = await laptop.post(
            "/api/auth/login", json={"email": owner.email, "password": PASSWORD}
        )
        assert login.json()["code"] == "account_locked"
    assert (await owner.get("/api/auth/mfa")).json()["enabled"] is True


async def test_an_unconfirmed_enrollment_is_cancelled_without_proof(owner: ApiClient) -> None:
    assert (await owner.post("/api/auth/mfa/enroll")).status_code == 200
    cancelled = await owner.post("/api/auth/mfa/disable", json={})
    assert cancelled.status_code == 204
    assert (await owner.get("/api/auth/mfa")).json()["pending_enrollment"] is False
    again = await owner.post("/api/auth/mfa/disable", json={})
    assert again.status_code == 409
    assert again.json()["code"] == "mfa_not_enabled"
