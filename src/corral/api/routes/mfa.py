"""Two-factor authentication (TOTP): enrollment, backup codes, disabling, and the second step
of a sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from corral.api.deps import (
    CallerDep,
    ContainerDep,
    SessionDep,
    client_address,
    current_caller,
    request_id,
)
from corral.api.openapi import ERRORS
from corral.api.routes.auth import signed_in
from corral.core.db import transaction
from corral.core.errors import CorralError, PermissionDenied
from corral.core.request_context import Actor
from corral.identity.access import Caller
from corral.identity.models import User
from corral.identity.schemas import (
    BackupCodes,
    MfaCode,
    MfaDisable,
    MfaEnrollment,
    MfaStatus,
    MfaVerify,
    SessionCreated,
)
from corral.identity.services import accounts, mfa

router = APIRouter(tags=["auth"], responses=ERRORS)


def _user(caller: Caller) -> User:
    if caller.user is None:
        raise PermissionDenied(
            "two-factor authentication belongs to a user session, not an API key",
            code="user_session_required",
        )
    return caller.user


@router.get("/api/auth/mfa", response_model=MfaStatus)
async def mfa_status(caller: CallerDep, session: SessionDep) -> MfaStatus:
    """Whether the signed-in user's second factor is on, and backup codes left."""
    user = _user(caller)
    return MfaStatus(
        enabled=user.mfa_enabled,
        pending_enrollment=not user.mfa_enabled and user.totp_secret_encrypted is not None,
        backup_codes_remaining=await mfa.backup_codes_remaining(session, user),
    )


@router.post("/api/auth/mfa/enroll", response_model=MfaEnrollment)
async def enroll(caller: CallerDep, container: ContainerDep, session: SessionDep) -> MfaEnrollment:
    """Start enrollment: a new TOTP secret (shown once) for the authenticator app.

    Nothing changes at sign-in until POST /api/auth/mfa/confirm with a code from the app.
    """
    enrollment = await mfa.enroll(session, container.mfa, _user(caller), actor=caller.actor)
    return MfaEnrollment(
        secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri, qr_svg=enrollment.qr_svg
    )


@router.post("/api/auth/mfa/confirm", response_model=BackupCodes)
async def confirm(
    body: MfaCode, caller: CallerDep, container: ContainerDep, session: SessionDep
) -> BackupCodes:
    """Turn two-factor authentication on with a current code; returns backup codes, once."""
    codes = await mfa.confirm(
        session, container.mfa, _user(caller), code=body.code, actor=caller.actor
    )
    return BackupCodes(backup_codes=codes)


@router.post("/api/auth/mfa/disable", status_code=status.HTTP_204_NO_CONTENT)
async def disable(body: MfaDisable, request: Request, container: ContainerDep) -> None:
    """Turn two-factor authentication off, proven by the password or a current code.

    A wrong proof counts towards the account's lockout.
    """
    # Its own transaction: a failed proof must still commit the failure count.
    async with transaction(container.sessions) as session:
        caller = await current_caller(request, session, container)
        outcome = await mfa.disable(
            session,
            container.mfa,
            container.accounts.passwords,
            container.settings.auth,
            _user(caller),
            password=body.password,
            code=body.code,
            actor=caller.actor,
        )
    if outcome is not None:
        raise outcome


@router.post("/api/auth/mfa/backup-codes", response_model=BackupCodes)
async def regenerate_backup_codes(
    body: MfaCode, request: Request, container: ContainerDep
) -> BackupCodes:
    """Replace the backup codes (proven by a current TOTP code); the new ones are shown once.

    A wrong code counts towards the account's lockout.
    """
    async with transaction(container.sessions) as session:
        caller = await current_caller(request, session, container)
        outcome = await mfa.regenerate_backup_codes(
            session,
            container.mfa,
            container.settings.auth,
            _user(caller),
            code=body.code,
            actor=caller.actor,
        )
    if isinstance(outcome, CorralError):
        raise outcome
    return BackupCodes(backup_codes=outcome)


@router.post("/api/auth/mfa/verify", response_model=SessionCreated)
async def verify(
    body: MfaVerify, request: Request, response: Response, container: ContainerDep
) -> SessionCreated:
    """Second step of a sign-in: the `mfa_token` from /api/auth/login and a TOTP or backup code.

    Failed codes count towards the account's lockout, like failed passwords.
    """
    actor = Actor("system", None, request_id(request), client_address(request))
    # Its own transaction: a failed code must still commit the failure count.
    async with transaction(container.sessions) as session:
        outcome = await accounts.complete_mfa_login(
            session,
            container.accounts,
            container.mfa,
            mfa_token=body.mfa_token,
            code=body.code,
            ip_address=client_address(request),
            user_agent=request.headers.get("user-agent"),
            actor=actor,
        )
    if isinstance(outcome, CorralError):
        raise outcome
    return signed_in(request, response, container, outcome)
