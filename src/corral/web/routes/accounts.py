"""Sign in (with the second-factor step), sign up and sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from corral.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ContainerDep,
    SessionDep,
    client_address,
    request_id,
)
from corral.api.errors import status_of
from corral.container import Container
from corral.core.db import transaction
from corral.core.errors import CorralError
from corral.core.request_context import Actor
from corral.identity.schemas import LoginRequest, RegisterRequest
from corral.identity.services import accounts
from corral.identity.services.accounts import MfaRequired
from corral.web.errors import page_router
from corral.web.responses import (
    PagesDep,
    after_post,
    anonymous_page,
    secure_cookies,
    see_other,
    signed_in_redirect,
)
from corral.web.viewer import (
    HOME_PATH,
    ONBOARDING_PATH,
    SIGN_IN_PATH,
    CheckedViewerDep,
    CsrfRefused,
    anonymous_form_is_genuine,
    optional_viewer,
    reading,
    safe_next,
)

router = page_router()

# The pending second factor waits in an HttpOnly cookie, never in the page.
MFA_COOKIE = "corral_mfa"
MFA_PATH = "/sign-in/mfa"

FormText = Annotated[str, Form(max_length=1024)]


def _anonymous(request: Request) -> Actor:
    return Actor("system", None, request_id(request), client_address(request))


async def _landing(container: Container, user_id: str, target: str) -> str:
    """After signing in: where `next` asked for, else onboarding for someone with no
    organization (so no application) to look at, else the overview."""
    if target != HOME_PATH:
        return target
    async with reading(container) as session:
        memberships = await accounts.memberships_of(session, user_id)
    return HOME_PATH if memberships else ONBOARDING_PATH


@router.get(SIGN_IN_PATH)
async def sign_in_page(
    request: Request, pages: PagesDep, container: ContainerDep, next: str = ""
) -> Response:
    if await optional_viewer(request, container) is not None:
        return see_other(safe_next(next))
    return anonymous_page(pages, request, container, "sign_in.html", next=safe_next(next), email="")


@router.post(SIGN_IN_PATH)
async def sign_in(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    email: FormText = "",
    password: FormText = "",
    next: FormText = "",
) -> Response:
    if not await anonymous_form_is_genuine(request):
        raise CsrfRefused()
    target = safe_next(next)
    try:
        LoginRequest(email=email, password=password)
    except ValidationError:
        return anonymous_page(
            pages,
            request,
            container,
            "sign_in.html",
            status_code=422,
            next=target,
            email=email,
            error="Enter your email address and password.",
        )
    # Its own transaction: a failed attempt must still commit the failure count (lockout).
    async with transaction(container.sessions) as session:
        outcome = await accounts.login(
            session,
            container.accounts,
            email=email,
            password=password,
            ip_address=client_address(request),
            user_agent=request.headers.get("user-agent"),
            actor=_anonymous(request),
        )
    if isinstance(outcome, CorralError):
        return anonymous_page(
            pages,
            request,
            container,
            "sign_in.html",
            status_code=status_of(outcome),
            next=target,
            email=email,
            error=outcome.detail,
        )
    if isinstance(outcome, MfaRequired):
        response = anonymous_page(pages, request, container, "sign_in_mfa.html", next=target)
        response.set_cookie(
            MFA_COOKIE,
            outcome.token,
            max_age=container.settings.auth.mfa_challenge_ttl_seconds,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(container),
            path=MFA_PATH,
        )
        return response
    return signed_in_redirect(
        container, outcome, await _landing(container, outcome.user.id, target)
    )


@router.post(MFA_PATH)
async def sign_in_second_factor(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    code: Annotated[str, Form(max_length=64)] = "",
    next: FormText = "",
) -> Response:
    if not await anonymous_form_is_genuine(request):
        raise CsrfRefused()
    target = safe_next(next)
    pending = request.cookies.get(MFA_COOKIE)
    if not pending:
        return anonymous_page(
            pages,
            request,
            container,
            "sign_in.html",
            status_code=401,
            next=target,
            email="",
            error="The sign-in expired; sign in again.",
        )
    code = code.replace(" ", "").strip()
    if not code:
        return anonymous_page(
            pages,
            request,
            container,
            "sign_in_mfa.html",
            status_code=422,
            next=target,
            error="Enter the code from your authenticator app or a backup code.",
        )
    async with transaction(container.sessions) as session:
        outcome = await accounts.complete_mfa_login(
            session,
            container.accounts,
            container.mfa,
            mfa_token=pending,
            code=code,
            ip_address=client_address(request),
            user_agent=request.headers.get("user-agent"),
            actor=_anonymous(request),
        )
    if isinstance(outcome, CorralError):
        # A wrong code may be retried while the pending sign-in lives; anything else restarts.
        template = "sign_in_mfa.html" if outcome.code == "invalid_mfa_code" else "sign_in.html"
        response = anonymous_page(
            pages,
            request,
            container,
            template,
            status_code=status_of(outcome),
            next=target,
            email="",
            error=outcome.detail,
        )
        if template == "sign_in.html":
            response.delete_cookie(MFA_COOKIE, path=MFA_PATH)
        return response
    landing = await _landing(container, outcome.user.id, target)
    done = signed_in_redirect(container, outcome, landing)
    done.delete_cookie(MFA_COOKIE, path=MFA_PATH)
    return done


@router.get("/sign-up")
async def sign_up_page(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    next: str = "",
    invitation_token: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    return anonymous_page(
        pages,
        request,
        container,
        "sign_up.html",
        next=safe_next(next),
        invitation_token=invitation_token,
        values={},
    )


@router.post("/sign-up")
async def sign_up(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    email: FormText = "",
    password: FormText = "",
    name: FormText = "",
    organization_name: FormText = "",
    invitation_token: FormText = "",
    next: FormText = "",
) -> Response:
    if not await anonymous_form_is_genuine(request):
        raise CsrfRefused()
    target = safe_next(next)
    values = {"email": email, "name": name, "organization_name": organization_name}

    def form_again(status_code: int, error: str) -> Response:
        return anonymous_page(
            pages,
            request,
            container,
            "sign_up.html",
            status_code=status_code,
            next=target,
            invitation_token=invitation_token,
            values=values,
            error=error,
        )

    try:
        body = RegisterRequest(
            email=email,
            password=password,
            name=name.strip(),
            organization_name=organization_name.strip() or None,
            invitation_token=invitation_token or None,
        )
    except ValidationError as exc:
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        return form_again(422, "Check these fields: " + ", ".join(fields).replace("_", " ") + ".")
    try:
        async with transaction(container.sessions) as session:
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
    except CorralError as exc:
        return form_again(status_of(exc), exc.detail)
    if body.invitation_token is None and target == HOME_PATH:
        # A new organization of one's own: name its application and connect an agent first.
        target = ONBOARDING_PATH
    return signed_in_redirect(container, new, target)


@router.post("/sign-out")
async def sign_out(request: Request, viewer: CheckedViewerDep, session: SessionDep) -> Response:
    if viewer.caller.session_id is not None:
        await accounts.logout(session, viewer.caller.session_id, actor=viewer.caller.actor)
    response = after_post(request, SIGN_IN_PATH)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
