"""Sign-up, sign-in, sign-out, password change and reset, and who-am-I."""

from __future__ import annotations

import hashlib

import structlog
from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from fastapi.responses import JSONResponse

from corral.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CallerDep,
    ContainerDep,
    MaybeAppScopeDep,
    SessionDep,
    client_address,
    log_fields,
    request_id,
    user_agent,
)
from corral.api.openapi import ERRORS
from corral.container import Container
from corral.core.db import transaction
from corral.core.errors import CorralError, PermissionDenied, RateLimited
from corral.core.request_context import Actor
from corral.identity.schemas import (
    ApiKeyRead,
    LoginRequest,
    MembershipRead,
    MeRead,
    MfaChallengeRead,
    PasswordChangeRequest,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
    RegisterRequest,
    SessionCreated,
    UserRead,
)
from corral.identity.services import accounts, password_reset
from corral.identity.services.accounts import MfaRequired, NewSession
from corral.notify.messages import PASSWORD_RESET_PATH, link, password_reset_email

router = APIRouter(tags=["auth"], responses=ERRORS)
_log = structlog.get_logger(__name__)


def _anonymous(request: Request) -> Actor:
    return Actor("system", None, request_id(request), client_address(request), user_agent(request))


def set_session_cookies(response: Response, new: NewSession, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    # Readable by the dashboard's script, which echoes it in X-CSRF-Token (double submit).
    response.set_cookie(
        CSRF_COOKIE,
        new.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="lax",
        secure=secure,
        path="/",
    )


@router.post(
    "/api/auth/register", status_code=status.HTTP_201_CREATED, response_model=SessionCreated
)
async def register(
    body: RegisterRequest,
    request: Request,
    response: Response,
    container: ContainerDep,
    session: SessionDep,
) -> SessionCreated:
    """Create an account (and its organization, unless joining by invitation) and sign in."""
    user = await accounts.register(
        session,
        container.accounts,
        email=str(body.email),
        password=body.password,
        name=body.name,
        organization_name=body.organization_name,
        invitation_token=body.invitation_token,
        actor=_anonymous(request),
    )
    new = await accounts.start_session(
        session,
        container.accounts,
        user,
        ip_address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    log_fields(request)["user_id"] = user.id
    set_session_cookies(
        response,
        new,
        secure=container.settings.public_url.startswith("https://"),
        max_age=container.settings.auth.session_ttl_seconds,
    )
    return SessionCreated(
        user=UserRead.model_validate(user), csrf_token=new.csrf_token, expires_at=new.expires_at
    )


def signed_in(
    request: Request, response: Response, container: Container, new: NewSession
) -> SessionCreated:
    """The answer of a completed sign-in: session and CSRF cookies, and the body."""
    log_fields(request)["user_id"] = new.user.id
    set_session_cookies(
        response,
        new,
        secure=container.settings.public_url.startswith("https://"),
        max_age=container.settings.auth.session_ttl_seconds,
    )
    return SessionCreated(
        user=UserRead.model_validate(new.user), csrf_token=new.csrf_token, expires_at=new.expires_at
    )


@router.post(
    "/api/auth/login",
    response_model=SessionCreated,
    responses={
        202: {
            "model": MfaChallengeRead,
            "description": "The password is right and the account has two-factor "
            "authentication: no session yet; send a code to POST /api/auth/mfa/verify.",
        }
    },
)
async def login(
    body: LoginRequest, request: Request, response: Response, container: ContainerDep
) -> SessionCreated | JSONResponse:
    """Sign in with email and password; sets the session and CSRF cookies.

    With two-factor authentication on, answers 202 with a short-lived `mfa_token` instead.
    """
    # Its own transaction: a failed attempt must still commit the failure count.
    async with transaction(container.sessions) as session:
        outcome = await accounts.login(
            session,
            container.accounts,
            email=str(body.email),
            password=body.password,
            ip_address=client_address(request),
            user_agent=request.headers.get("user-agent"),
            actor=_anonymous(request),
        )
    if isinstance(outcome, CorralError):
        raise outcome
    if isinstance(outcome, MfaRequired):
        log_fields(request)["user_id"] = outcome.user.id
        pending = MfaChallengeRead(mfa_token=outcome.token, expires_at=outcome.expires_at)
        return JSONResponse(pending.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return signed_in(request, response, container, outcome)


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(caller: CallerDep, session: SessionDep, response: Response) -> Response:
    """End the current session."""
    if caller.session_id is not None:
        await accounts.logout(session, caller.session_id, actor=caller.actor)
    response.status_code = status.HTTP_204_NO_CONTENT
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/api/auth/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChangeRequest, caller: CallerDep, container: ContainerDep, session: SessionDep
) -> None:
    """Change the signed-in user's password; other sessions are signed out."""
    if caller.user is None:
        raise PermissionDenied("API keys have no password", code="user_session_required")
    await accounts.change_password(
        session,
        container.accounts,
        caller.user,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=caller.session_id,
        actor=caller.actor,
    )


async def issue_password_reset(container: Container, email: str, actor: Actor) -> None:
    """After the answer: the same timing whether or not the account exists."""
    try:
        async with transaction(container.sessions) as session:
            reset = await password_reset.request(
                session, container.accounts, email=email, actor=actor
            )
        if reset is not None:
            url = link(container.settings.public_url, PASSWORD_RESET_PATH, reset.token)
            container.email.send_later(
                password_reset_email(to=reset.email, reset_url=url, expires_at=reset.expires_at)
            )
    except Exception as exc:  # noqa: BLE001 — the answer is gone; the failure is logged
        _log.error("password_reset.request_failed", error=type(exc).__name__)


@router.post(
    "/api/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PasswordResetAccepted,
)
async def request_password_reset(
    body: PasswordResetRequest,
    request: Request,
    container: ContainerDep,
    background: BackgroundTasks,
) -> PasswordResetAccepted:
    """Email a single-use reset link, if an account has this address; the answer never says.

    Limited per client address (429) and, silently, per address asked about.
    """
    if not container.email.configured:
        # Like closed sign-up: a feature this server does not offer (403), not an outage.
        raise PermissionDenied(
            "password reset by email is unavailable: this server sends no email "
            "(CORRAL_SMTP_* is not configured); an administrator can run "
            "`corral admin reset-password`",
            code="email_not_configured",
        )
    limiter = container.password_reset_limiter
    by_address = await limiter.hit(f"ip:{client_address(request) or 'unknown'}")
    if not by_address.allowed:
        raise RateLimited(
            "too many password-reset requests from this address",
            retry_after_seconds=by_address.retry_after_seconds,
        )
    email = accounts.normalize_email(str(body.email))
    by_account = await limiter.hit("email:" + hashlib.sha256(email.encode()).hexdigest())
    if by_account.allowed:
        background.add_task(issue_password_reset, container, email, _anonymous(request))
    return PasswordResetAccepted()


@router.post("/api/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(
    body: PasswordResetConfirm, request: Request, container: ContainerDep, session: SessionDep
) -> None:
    """Set a new password with the emailed token; the token and every session of the user end."""
    user = await password_reset.confirm(
        session,
        container.accounts,
        token=body.token,
        new_password=body.new_password,
        actor=_anonymous(request),
    )
    log_fields(request)["user_id"] = user.id


@router.get("/api/me", response_model=MeRead)
async def me(caller: CallerDep, scope: MaybeAppScopeDep, session: SessionDep) -> MeRead:
    """The caller: user or API key, memberships, current application and permissions."""
    memberships = (
        [
            MembershipRead(org_id=o, org_name=n, role=r)
            for o, n, r in await accounts.memberships_of(session, caller.user.id)
        ]
        if caller.user
        else []
    )
    return MeRead(
        kind=caller.kind,
        user=UserRead.model_validate(caller.user) if caller.user else None,
        memberships=memberships,
        api_key=ApiKeyRead.model_validate(caller.api_key) if caller.api_key else None,
        org_id=scope.org_id if scope else None,
        application_id=scope.application_id if scope else None,
        permissions=sorted(scope.permissions) if scope else [],
        end_user_id=scope.end_user_id if scope else None,
    )
