"""The pages that emailed links open: accept an invitation, set a new password.

The paths are the ones `corral.notify.messages` builds links to.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import BackgroundTasks, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from corral.api.deps import ContainerDep, client_address, request_id
from corral.api.errors import status_of
from corral.api.routes.auth import issue_password_reset
from corral.container import Container
from corral.core.db import transaction
from corral.core.errors import CorralError
from corral.core.request_context import Actor
from corral.identity.schemas import PasswordResetRequest
from corral.identity.services import accounts, invitations, password_reset
from corral.notify.messages import INVITATION_PATH, PASSWORD_RESET_PATH
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, anonymous_page, page_context
from corral.web.templating import Pages
from corral.web.viewer import (
    HOME_PATH,
    CsrfRefused,
    anonymous_form_is_genuine,
    checked_viewer,
    current_viewer,
    optional_viewer,
    reading,
    sign_in_url,
)

router = page_router()

PASSWORD_RESET_REQUEST_PATH = PASSWORD_RESET_PATH + "/request"
ResetState = Literal["request", "requested", "choose", "done"]
_RESET_TITLES: dict[ResetState, str] = {
    "request": "Reset your password",
    "requested": "Check your email",
    "choose": "Choose a new password",
    "done": "Password changed",
}

Token = Annotated[str, Query(max_length=200)]
FormToken = Annotated[str, Form(max_length=200)]


@router.get(INVITATION_PATH)
async def invitation_page(
    request: Request, pages: PagesDep, container: ContainerDep, token: Token = ""
) -> Response:
    viewer = await optional_viewer(request, container)
    here = f"{INVITATION_PATH}?{urlencode({'token': token})}"
    if viewer is None:
        return anonymous_page(
            pages,
            request,
            container,
            "invitation.html",
            token=token,
            sign_in_href=sign_in_url(here),
            title="Invitation",
        )
    return pages.render(
        "invitation.html",
        page_context(request, viewer, token=token, sign_in_href="", title="Invitation"),
    )


@router.post(INVITATION_PATH)
async def accept_invitation(
    request: Request, pages: PagesDep, container: ContainerDep, token: FormToken = ""
) -> Response:
    try:
        # One transaction for the check and the change: a refused invitation writes nothing.
        async with transaction(container.sessions) as session:
            viewer = await checked_viewer(
                request, await current_viewer(request, session, container)
            )
            await invitations.accept(session, viewer.user, token, actor=viewer.caller.actor)
    except CorralError as exc:
        async with reading(container) as session:
            viewer = await current_viewer(request, session, container)
        return pages.render(
            "invitation.html",
            page_context(
                request,
                viewer,
                token=token,
                sign_in_href="",
                title="Invitation",
                error=exc.detail,
            ),
            status_code=status_of(exc),
        )
    return after_post(request, HOME_PATH)


def _reset_page(
    pages: Pages,
    request: Request,
    container: Container,
    state: ResetState,
    *,
    status_code: int = 200,
    token: str = "",
    error: str | None = None,
) -> Response:
    return anonymous_page(
        pages,
        request,
        container,
        "password_reset.html",
        status_code=status_code,
        state=state,
        token=token,
        error=error,
        email_configured=container.email.configured,
        title=_RESET_TITLES[state],
    )


@router.get(PASSWORD_RESET_PATH)
async def password_reset_page(
    request: Request, pages: PagesDep, container: ContainerDep, token: Token = ""
) -> Response:
    """With the emailed token: choose the new password; without: ask for a link."""
    state: ResetState = "choose" if token else "request"
    return _reset_page(pages, request, container, state, token=token)


@router.post(PASSWORD_RESET_REQUEST_PATH)
async def request_password_reset(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Like POST /api/auth/password-reset: the answer never says whether the account exists."""
    if not await anonymous_form_is_genuine(request):
        raise CsrfRefused()
    if not container.email.configured:
        return _reset_page(pages, request, container, "request", status_code=403)
    try:
        address = str(PasswordResetRequest(email=email).email)
    except ValidationError:
        return _reset_page(
            pages,
            request,
            container,
            "request",
            status_code=422,
            error="Enter the email address of your account.",
        )
    limiter = container.password_reset_limiter
    by_address = await limiter.hit(f"ip:{client_address(request) or 'unknown'}")
    if not by_address.allowed:
        return _reset_page(
            pages,
            request,
            container,
            "request",
            status_code=429,
            error="Too many reset requests from this address; try again later.",
        )
    normalized = accounts.normalize_email(address)
    by_account = await limiter.hit("email:" + hashlib.sha256(normalized.encode()).hexdigest())
    if by_account.allowed:
        actor = Actor("system", None, request_id(request), client_address(request))
        background.add_task(issue_password_reset, container, normalized, actor)
    return _reset_page(pages, request, container, "requested")


@router.post(PASSWORD_RESET_PATH)
async def reset_password(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    token: FormToken = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if not await anonymous_form_is_genuine(request):
        raise CsrfRefused()
    actor = Actor("system", None, request_id(request), client_address(request))
    try:
        async with transaction(container.sessions) as session:
            await password_reset.confirm(
                session, container.accounts, token=token, new_password=new_password, actor=actor
            )
    except CorralError as exc:
        return _reset_page(
            pages,
            request,
            container,
            "choose",
            status_code=status_of(exc),
            token=token,
            error=exc.detail,
        )
    return _reset_page(pages, request, container, "done")
