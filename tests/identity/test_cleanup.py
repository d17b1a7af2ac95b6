"""The session cleanup loop's purge also removes expired MFA sign-ins and dead reset links."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import func, select

from corral.core.clock import utcnow
from corral.identity.models import MfaChallenge, PasswordResetToken, UserSession
from corral.identity.services.accounts import purge_expired_sessions
from tests.clients import ApiClient


async def test_purge_keeps_only_live_rows(owner: ApiClient, app: FastAPI) -> None:
    now = utcnow()
    later, earlier = now + timedelta(hours=1), now - timedelta(seconds=1)
    async with app.state.container.sessions.begin() as session:
        session.add_all(
            [
                MfaChallenge(user_id=owner.user_id, token_digest="a" * 64, expires_at=later),
                MfaChallenge(user_id=owner.user_id, token_digest="b" * 64, expires_at=earlier),
                PasswordResetToken(user_id=owner.user_id, token_digest="c" * 64, expires_at=later),
                PasswordResetToken(
                    user_id=owner.user_id, token_digest="d" * 64, expires_at=earlier
                ),
                PasswordResetToken(
                    user_id=owner.user_id, token_digest="e" * 64, expires_at=later, used_at=now
                ),
            ]
        )
    async with app.state.container.sessions.begin() as session:
        assert await purge_expired_sessions(session) == 3
    async with app.state.container.sessions() as session:
        challenges = list(await session.scalars(select(MfaChallenge.token_digest)))
        resets = list(await session.scalars(select(PasswordResetToken.token_digest)))
        sessions = await session.scalar(select(func.count()).select_from(UserSession))
    assert (challenges, resets, sessions) == (["a" * 64], ["c" * 64], 1)
