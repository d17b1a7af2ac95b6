"""Sign-up, sign-in, sign-out, password change, and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

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
from corral.core.db import transaction
from corral.core.errors import CorralError, PermissionDenied
from corral.core.request_context import Actor
from corral.identity.schemas import (
    ApiKeyRead,
    LoginRequest,
    MembershipRead,
    MeRead,
    PasswordChangeRequest,
    RegisterRequest,
    SessionCreated,
    UserRead,
)
from corral.identity.services import accounts
from corral.identity.services.accounts import NewSession

router = APIRouter(tags=["auth"], responses=ERRORS)


def _anonymous(request: Request) -> Actor:
    return Actor("system", None, request_id(request), client_address(request), user_agent(request))


def _set_session_cookies(
    response: Response, new: NewSession, *, secure: bool, max_age: int
) -> None:
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
    _set_session_cookies(
        response,
        new,
        secure=container.settings.public_url.startswith("https://"),
        max_age=container.settings.auth.session_ttl_seconds,
    )
    return SessionCreated(
        user=UserRead.model_validate(user), csrf_token=new.csrf_token, expires_at=new.expires_at
    )


@router.post("/api/auth/login", response_model=SessionCreated)
async def login(
    body: LoginRequest, request: Request, response: Response, container: ContainerDep
) -> SessionCreated:
    """Sign in with email and password; sets the session and CSRF cookies."""
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
    log_fields(request)["user_id"] = outcome.user.id
    _set_session_cookies(
        response,
        outcome,
        secure=container.settings.public_url.startswith("https://"),
        max_age=container.settings.auth.session_ttl_seconds,
    )
    return SessionCreated(
        user=UserRead.model_validate(outcome.user),
        csrf_token=outcome.csrf_token,
        expires_at=outcome.expires_at,
    )


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
