"""Users and their sessions: registration, login, logout, password changes and recovery."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import Signer, token_digest
from corral.core.errors import (
    Conflict,
    CorralError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
)
from corral.core.passwords import PasswordHashing
from corral.core.request_context import Actor
from corral.core.settings import AuthSettings
from corral.identity.models import (
    Membership,
    MfaChallenge,
    Organization,
    PasswordResetToken,
    User,
    UserSession,
)
from corral.identity.services import invitations, lockout, mfa, organizations

CSRF_PURPOSE = "csrf"
# Distinct from session tokens at a glance; resolvable only by POST /api/auth/mfa/verify.
MFA_TOKEN_PREFIX = "mfa_"  # noqa: S105 — a prefix, not a secret


@dataclass(frozen=True, slots=True)
class AccountDeps:
    passwords: PasswordHashing
    signer: Signer
    auth: AuthSettings


@dataclass(frozen=True, slots=True)
class NewSession:
    user: User
    token: str
    csrf_token: str
    expires_at: datetime


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_password_policy(password: str, email: str, auth: AuthSettings) -> None:
    if len(password) < auth.password_min_length:
        raise InvalidInput(
            f"password needs at least {auth.password_min_length} characters", code="weak_password"
        )
    if password.strip().lower() == normalize_email(email):
        raise InvalidInput("password must differ from the email address", code="weak_password")


async def _find_user(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def create_user(
    session: AsyncSession,
    deps: AccountDeps,
    *,
    email: str,
    password: str,
    name: str,
    actor: Actor,
    must_change_password: bool = False,
) -> User:
    """A user without any organization yet."""
    check_password_policy(password, email, deps.auth)
    if await _find_user(session, email) is not None:
        raise Conflict("an account with this email already exists", code="email_taken")
    user = User(
        email=normalize_email(email),
        name=name,
        password_hash=deps.passwords.hash(password),
        must_change_password=must_change_password,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("an account with this email already exists", code="email_taken") from exc
    audit.record(session, actor, "user.created", target_type="user", target_id=user.id, org_id=None)
    return user


async def register(
    session: AsyncSession,
    deps: AccountDeps,
    *,
    email: str,
    password: str,
    name: str,
    organization_name: str | None,
    invitation_token: str | None,
    actor: Actor,
) -> User:
    """Sign up: join the inviting organization, or get an organization of one's own."""
    invitation = None
    if invitation_token is not None:
        invitation = await invitations.usable(session, invitation_token, email)
    elif not deps.auth.allow_signup:
        users = await session.scalar(select(func.count()).select_from(User))
        if users:
            raise PermissionDenied(
                "sign-up is closed on this server; ask an administrator for an invitation",
                code="signup_disabled",
            )
    user = await create_user(session, deps, email=email, password=password, name=name, actor=actor)
    user_actor = Actor("user", user.id, actor.request_id, actor.ip_address, actor.user_agent)
    if invitation is not None:
        await invitations.consume(session, invitation, user.id, actor=user_actor)
    else:
        label = organization_name or f"{name or user.email}'s organization"
        await organizations.create_organization(session, user, name=label, actor=user_actor)
    return user


async def start_session(
    session: AsyncSession,
    deps: AccountDeps,
    user: User,
    *,
    ip_address: str | None,
    user_agent: str | None,
) -> NewSession:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=deps.auth.session_ttl_seconds)
    digest = token_digest(token)
    session.add(
        UserSession(
            user_id=user.id,
            token_digest=digest,
            expires_at=expires_at,
            ip_address=ip_address,
            user_agent=(user_agent or "")[:512] or None,
        )
    )
    csrf = deps.signer.sign(digest.encode(), purpose=CSRF_PURPOSE)
    return NewSession(user, token, csrf, expires_at)


def csrf_is_valid(signer: Signer, session_token: str, csrf_token: str) -> bool:
    return signer.verify(token_digest(session_token).encode(), csrf_token, purpose=CSRF_PURPOSE)


class LoginFailed(Unauthenticated):
    code = "invalid_credentials"


@dataclass(frozen=True, slots=True)
class MfaRequired:
    """The password was right; the sign-in waits for the second factor under `token`."""

    user: User
    token: str
    expires_at: datetime


async def _signed_in(
    session: AsyncSession,
    deps: AccountDeps,
    user: User,
    *,
    ip_address: str | None,
    user_agent: str | None,
    actor: Actor,
    details: dict[str, str] | None = None,
) -> NewSession:
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    new = await start_session(session, deps, user, ip_address=ip_address, user_agent=user_agent)
    audit.record(
        session,
        Actor("user", user.id, actor.request_id, actor.ip_address, actor.user_agent),
        "user.login",
        target_type="user",
        target_id=user.id,
        org_id=None,
        details=details,
    )
    return new


async def login(
    session: AsyncSession,
    deps: AccountDeps,
    *,
    email: str,
    password: str,
    ip_address: str | None,
    user_agent: str | None,
    actor: Actor,
) -> NewSession | MfaRequired | CorralError:
    """A new session, a pending second factor, or the error to answer with.

    Failures are returned rather than raised so that the caller commits the failure count
    (lockout) before answering.
    """
    user = await _find_user(session, email)
    if user is not None and (locked := lockout.locked_error(user, utcnow())) is not None:
        return locked
    if user is None or not deps.passwords.verify(user.password_hash, password):
        if user is not None:
            lockout.count_failure(session, deps.auth, user, actor, "user.login_failed")
        return LoginFailed("email or password is wrong")
    if deps.passwords.needs_rehash(user.password_hash):
        user.password_hash = deps.passwords.hash(password)
    if user.mfa_enabled:
        # The failure count is not reset here: a known password must not buy fresh guesses
        # at the second factor.
        token = MFA_TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = utcnow() + timedelta(seconds=deps.auth.mfa_challenge_ttl_seconds)
        session.add(
            MfaChallenge(user_id=user.id, token_digest=token_digest(token), expires_at=expires_at)
        )
        audit.record(
            session,
            actor,
            "user.login_mfa_pending",
            target_type="user",
            target_id=user.id,
            org_id=None,
        )
        return MfaRequired(user, token, expires_at)
    return await _signed_in(
        session, deps, user, ip_address=ip_address, user_agent=user_agent, actor=actor
    )


async def complete_mfa_login(
    session: AsyncSession,
    deps: AccountDeps,
    mfa_deps: mfa.MfaDeps,
    *,
    mfa_token: str,
    code: str,
    ip_address: str | None,
    user_agent: str | None,
    actor: Actor,
) -> NewSession | CorralError:
    """The session of a sign-in that waited for its second factor (TOTP or backup code)."""
    row = (
        await session.execute(
            select(MfaChallenge, User)
            .join(User, User.id == MfaChallenge.user_id)
            .where(MfaChallenge.token_digest == token_digest(mfa_token))
        )
    ).first()
    now = utcnow()
    if row is None or row[0].expires_at <= now or not row[1].mfa_enabled:
        return Unauthenticated(
            "the sign-in expired or is unknown; sign in again", code="invalid_mfa_token"
        )
    challenge, user = row[0], row[1]
    if (locked := lockout.locked_error(user, now)) is not None:
        await session.delete(challenge)
        return locked
    method = "totp"
    if not await mfa.accept_totp(session, mfa_deps, user, code):
        method = "backup_code"
        if not await mfa.use_backup_code(session, mfa_deps, user, code):
            lockout.count_failure(session, deps.auth, user, actor, "user.mfa_failed")
            if user.locked_until is not None:
                await session.delete(challenge)
            return Unauthenticated("the code is wrong or was already used", code="invalid_mfa_code")
    await session.delete(challenge)
    return await _signed_in(
        session,
        deps,
        user,
        ip_address=ip_address,
        user_agent=user_agent,
        actor=actor,
        details={"second_factor": method},
    )


async def logout(session: AsyncSession, session_id: str, *, actor: Actor) -> None:
    await session.execute(delete(UserSession).where(UserSession.id == session_id))
    audit.record(
        session, actor, "user.logout", target_type="session", target_id=session_id, org_id=None
    )


async def change_password(
    session: AsyncSession,
    deps: AccountDeps,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: str | None,
    actor: Actor,
) -> None:
    """Change a password and sign out every other session of the user."""
    if not deps.passwords.verify(user.password_hash, current_password):
        raise InvalidInput("the current password is wrong", code="invalid_current_password")
    check_password_policy(new_password, user.email, deps.auth)
    if new_password == current_password:
        raise InvalidInput(
            "the new password must differ from the current one", code="weak_password"
        )
    user.password_hash = deps.passwords.hash(new_password)
    user.must_change_password = False
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_session_id is not None:
        query = query.where(UserSession.id != keep_session_id)
    await session.execute(query)
    # A sign-in that proved the old password must not finish with its second factor.
    await session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user.id))
    audit.record(
        session, actor, "user.password_changed", target_type="user", target_id=user.id, org_id=None
    )


async def reset_password(
    session: AsyncSession, deps: AccountDeps, *, email: str, disable_mfa: bool, actor: Actor
) -> str:
    """Offline recovery: a one-time temporary password that must be changed at next login."""
    user = await _find_user(session, email)
    if user is None:
        raise InvalidInput(f"no user with email {normalize_email(email)!r}", code="user_not_found")
    temporary = secrets.token_urlsafe(18)
    user.password_hash = deps.passwords.hash(temporary)
    user.must_change_password = True
    user.failed_login_count = 0
    user.locked_until = None
    if disable_mfa:
        await mfa.clear(session, user)
        audit.record(
            session, actor, "user.mfa_disabled", target_type="user", target_id=user.id, org_id=None
        )
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user.id))
    audit.record(
        session,
        actor,
        "user.password_reset",
        target_type="user",
        target_id=user.id,
        org_id=None,
        details={"mfa_disabled": disable_mfa},
    )
    return temporary


async def memberships_of(session: AsyncSession, user_id: str) -> list[tuple[str, str, str]]:
    """(org id, org name, role) for every organization the user belongs to, oldest first."""
    rows = await session.execute(
        select(Organization.id, Organization.name, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Organization.id)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def purge_expired_sessions(session: AsyncSession) -> int:
    """Delete expired sessions, expired MFA sign-ins, and spent or expired reset links."""
    now = utcnow()
    removed = 0
    for query in (
        delete(UserSession).where(UserSession.expires_at <= now),
        delete(MfaChallenge).where(MfaChallenge.expires_at <= now),
        delete(PasswordResetToken).where(
            or_(PasswordResetToken.expires_at <= now, PasswordResetToken.used_at.is_not(None))
        ),
    ):
        result = await session.execute(query)
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
