"""Password reset by email: a single-use, expiring link whose token is stored as a digest.

Asking reveals nothing: the answer is the same whether or not the address has an account.
Using the link sets the password, unlocks the account and signs out every session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import token_digest
from corral.core.errors import InvalidInput
from corral.core.request_context import Actor
from corral.identity.models import MfaChallenge, PasswordResetToken, User, UserSession
from corral.identity.services.accounts import AccountDeps, check_password_policy, normalize_email

TOKEN_PREFIX = "pwr_"  # noqa: S105 — a prefix, not a secret


@dataclass(frozen=True, slots=True)
class ResetLink:
    """What the email needs; the token is shown nowhere else."""

    email: str
    token: str
    expires_at: datetime


async def request(
    session: AsyncSession, deps: AccountDeps, *, email: str, actor: Actor
) -> ResetLink | None:
    """A new reset token for the account with this email (earlier ones stop working), if any."""
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        return None
    await session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None)
        )
    )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=deps.auth.password_reset_ttl_seconds)
    session.add(
        PasswordResetToken(user_id=user.id, token_digest=token_digest(token), expires_at=expires_at)
    )
    audit.record(
        session,
        actor,
        "user.password_reset_requested",
        target_type="user",
        target_id=user.id,
        org_id=None,
    )
    return ResetLink(user.email, token, expires_at)


def _invalid() -> InvalidInput:
    return InvalidInput(
        "the reset link is unknown, used or expired; ask for a new one",
        code="invalid_reset_token",
    )


async def confirm(
    session: AsyncSession, deps: AccountDeps, *, token: str, new_password: str, actor: Actor
) -> User:
    """Set the new password with a valid link; the link and every session end."""
    row = (
        await session.execute(
            select(PasswordResetToken, User)
            .join(User, User.id == PasswordResetToken.user_id)
            .where(PasswordResetToken.token_digest == token_digest(token))
        )
    ).first()
    now = utcnow()
    if row is None or row[0].used_at is not None or row[0].expires_at <= now:
        raise _invalid()
    reset, user = row[0], row[1]
    # Checked before the token is spent: a refused password leaves the link usable.
    check_password_policy(new_password, user.email, deps.auth)
    result = await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == reset.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _invalid()
    user.password_hash = deps.passwords.hash(new_password)
    user.must_change_password = False
    user.failed_login_count = 0
    user.locked_until = None
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user.id))
    await session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.user_id == user.id, PasswordResetToken.id != reset.id
        )
    )
    audit.record(
        session,
        Actor("user", user.id, actor.request_id, actor.ip_address, actor.user_agent),
        "user.password_reset",
        target_type="user",
        target_id=user.id,
        org_id=None,
        details={"via": "email_link"},
    )
    return user
