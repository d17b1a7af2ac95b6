"""The signed-in user's account: change the password (the one page a temporary password may
open) and the second factor (TOTP enroll and confirm, backup codes, turn off)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.api.errors import status_of
from corral.core.errors import CorralError
from corral.identity.services import accounts, mfa
from corral.web.control import attempt, show_refusal
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.viewer import (
    ACCOUNT_PATH,
    HOME_PATH,
    CheckedPasswordViewerDep,
    CheckedViewerDep,
    PasswordViewerDep,
    Viewer,
)

router = page_router()

Secret = Annotated[str, Form(max_length=1024)]
Code = Annotated[str, Form(max_length=64)]
# What `?done=` may announce after a change (anything else is ignored).
_DONE = {
    "password": "Your password was changed; your other sessions were signed out.",
    "mfa-off": "Two-factor authentication is off.",
}


def _qr_data_uri(svg: str) -> str:
    """The QR code as an image: no markup of ours in the page, and the CSP allows data: images."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


async def _account_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    **extra: Any,
) -> Response:
    user = viewer.user
    context = page_context(
        request,
        viewer,
        title="Your account",
        user=user,
        temporary=user.must_change_password,
        mfa_pending=not user.mfa_enabled and user.totp_secret_encrypted is not None,
        backup_codes_left=await mfa.backup_codes_remaining(session, user),
        done=_DONE.get(request.query_params.get("done", "")),
        **{"enrollment": None, "backup_codes": None, **extra},
    )
    context["error"] = error
    return pages.render("account.html", context, status_code=status_code)


@router.get(ACCOUNT_PATH)
async def account_page(
    request: Request, viewer: PasswordViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _account_page(request, viewer, session, pages)


@router.post(ACCOUNT_PATH + "/password")
async def change_password(
    request: Request,
    viewer: CheckedPasswordViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    current_password: Secret = "",
    new_password: Secret = "",
    confirm_password: Secret = "",
) -> Response:
    if not current_password or not new_password:
        return await _account_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error="Enter your current password and a new one.",
        )
    if new_password != confirm_password:
        return await _account_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error="The new password and its confirmation differ.",
        )
    was_temporary = viewer.user.must_change_password
    changed = await attempt(
        session,
        accounts.change_password(
            session,
            container.accounts,
            viewer.user,
            current_password=current_password,
            new_password=new_password,
            keep_session_id=viewer.caller.session_id,
            actor=viewer.caller.actor,
        ),
    )
    if isinstance(changed, CorralError):
        return await show_refusal(
            container,
            session,
            changed,
            lambda fresh, code, message: _account_page(
                request, viewer, fresh, pages, status_code=code, error=message
            ),
        )
    # A temporary password kept the user from everything else: now they may go on.
    return after_post(request, HOME_PATH if was_temporary else ACCOUNT_PATH + "?done=password")


@router.post(ACCOUNT_PATH + "/mfa/enroll")
async def enroll(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
) -> Response:
    enrollment = await mfa.enroll(session, container.mfa, viewer.user, actor=viewer.caller.actor)
    # The secret is in this answer only (sent with no-store); the pending state survives a
    # reload, its secret does not: "Start over" makes a new one.
    shown = {
        "secret": enrollment.secret,
        "qr": _qr_data_uri(enrollment.qr_svg),
        "uri": enrollment.otpauth_uri,
    }
    return await _account_page(request, viewer, session, pages, enrollment=shown)


@router.post(ACCOUNT_PATH + "/mfa/confirm")
async def confirm(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    code: Code = "",
) -> Response:
    codes = await attempt(
        session,
        mfa.confirm(
            session,
            container.mfa,
            viewer.user,
            code=code.replace(" ", "").strip(),
            actor=viewer.caller.actor,
        ),
    )
    if isinstance(codes, CorralError):
        return await show_refusal(
            container,
            session,
            codes,
            lambda fresh, status, message: _account_page(
                request, viewer, fresh, pages, status_code=status, error=message
            ),
        )
    return await _account_page(request, viewer, session, pages, backup_codes=codes)


@router.post(ACCOUNT_PATH + "/mfa/disable")
async def disable(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    password: Secret = "",
    code: Code = "",
) -> Response:
    refused = await mfa.disable(
        session,
        container.mfa,
        container.accounts.passwords,
        container.settings.auth,
        viewer.user,
        password=password or None,
        code=code.replace(" ", "").strip() or None,
        actor=viewer.caller.actor,
    )
    if refused is not None:
        # Answered normally, so the request commits the failed proof's count (lockout).
        return await _account_page(
            request, viewer, session, pages, status_code=status_of(refused), error=refused.detail
        )
    return after_post(request, ACCOUNT_PATH + "?done=mfa-off")


@router.post(ACCOUNT_PATH + "/mfa/backup-codes")
async def regenerate_backup_codes(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    code: Code = "",
) -> Response:
    codes = await mfa.regenerate_backup_codes(
        session,
        container.mfa,
        container.settings.auth,
        viewer.user,
        code=code.replace(" ", "").strip(),
        actor=viewer.caller.actor,
    )
    if isinstance(codes, CorralError):
        return await _account_page(
            request, viewer, session, pages, status_code=status_of(codes), error=codes.detail
        )
    return await _account_page(request, viewer, session, pages, backup_codes=codes)
