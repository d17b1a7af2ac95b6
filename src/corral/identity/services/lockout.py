"""Account lockout: failed passwords and failed second factors count towards one limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import CorralError, Unauthenticated
from corral.core.request_context import Actor
from corral.core.settings import AuthSettings
from corral.identity.models import User


def locked_error(user: User, now: datetime) -> CorralError | None:
    """The error to answer with while the account is locked, else None."""
    if user.locked_until is None or user.locked_until <= now:
        return None
    retry = int((user.locked_until - now).total_seconds()) + 1
    return Unauthenticated(
        f"too many failed sign-ins; try again in {retry} seconds",
        code="account_locked",
        extra={"retry_after_seconds": retry},
    )


def count_failure(
    session: AsyncSession, auth: AuthSettings, user: User, actor: Actor, action: str
) -> None:
    """Audit a failed attempt and lock the account once there were too many in a row."""
    audit.record(
        session,
        actor,
        action,
        target_type="user",
        target_id=user.id,
        org_id=None,
        outcome="failure",
    )
    user.failed_login_count += 1
    if user.failed_login_count >= auth.login_max_failures:
        user.locked_until = utcnow() + timedelta(seconds=auth.login_lockout_seconds)
        user.failed_login_count = 0
        audit.record(
            session, actor, "user.locked", target_type="user", target_id=user.id, org_id=None
        )
