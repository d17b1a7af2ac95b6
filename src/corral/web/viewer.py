"""Who is looking at a page: the signed-in user, their application scope, their CSRF token.

Pages use the API's cookie session (`corral_session`) and its double-submit CSRF token
(`corral_csrf`); an HTML form sends the token in a hidden `csrf_token` field, htmx in the
`X-CSRF-Token` header, and both are checked like the API checks the header.

The application a page shows is the one the header's switcher chose (`corral_application`, an
HttpOnly cookie). The cookie is only a preference: it is checked against the user's memberships
on every request, and one naming an application the user cannot see is ignored.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.deps import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    ContainerDep,
    SessionDep,
    client_address,
    log_fields,
    request_id,
)
from corral.container import Container
from corral.core.db import READ_ONLY
from corral.core.errors import NotFound, Unauthenticated
from corral.identity import access
from corral.identity.access import AppScope, Caller
from corral.identity.models import User
from corral.identity.services.accounts import csrf_is_valid
from corral.identity.services.applications import MemberApplication, list_for_member

CSRF_FIELD = "csrf_token"
SIGN_IN_PATH = "/sign-in"
HOME_PATH = "/"
ACCOUNT_PATH = "/account"
ONBOARDING_PATH = "/onboarding"
# The application chosen in the header's switcher; checked on every request.
APPLICATION_COOKIE = "corral_application"
_MAX_APPLICATION_ID_CHARS = 64
_MAX_NEXT_CHARS = 2000


class SignInRequired(Exception):
    """A page needs a signed-in user; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PasswordChangeRequired(Exception):
    """The user signed in with a temporary password and may do nothing else first."""


class CsrfRefused(Exception):
    """A form or htmx post without the session's CSRF token (another site's forged post)."""


def safe_next(candidate: str | None) -> str:
    """`candidate` when it is a path on this server, else the overview: never another origin.

    Refused: absolute URLs, scheme-relative `//host`, backslashes (browsers read `/\\host` as
    `//host`), control characters, and anything not starting with a single `/`.
    """
    if not candidate or len(candidate) > _MAX_NEXT_CHARS:
        return HOME_PATH
    if any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in candidate):
        return HOME_PATH
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
        return HOME_PATH
    return candidate


def sign_in_url(next_url: str) -> str:
    target = safe_next(next_url)
    if target == HOME_PATH:
        return SIGN_IN_PATH
    return f"{SIGN_IN_PATH}?next={quote(target, safe='')}"


def _request_target(request: Request) -> str:
    """Where to come back after signing in: this page, but never a form target (a GET there
    would not repeat the post)."""
    if request.method != "GET":
        return HOME_PATH
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@asynccontextmanager
async def reading(container: Container) -> AsyncIterator[AsyncSession]:
    """A read-only unit of work, for pages that look before they decide what to do."""
    async with container.sessions() as session, session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        yield session


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of a page, and the application the page shows (None: no org yet)."""

    caller: Caller
    user: User
    scope: AppScope | None
    csrf_token: str
    # What the header's switcher offers: every application of the user's organizations.
    applications: tuple[MemberApplication, ...] = ()

    def can(self, permission: str) -> bool:
        return self.scope is not None and permission in self.scope.permissions

    @property
    def application(self) -> MemberApplication | None:
        """The application the pages show, with its organization's name."""
        if self.scope is None:
            return None
        return next((a for a in self.applications if a.id == self.scope.application_id), None)


async def _chosen_scope(
    session: AsyncSession, caller: Caller, chosen: str | None, visible: list[MemberApplication]
) -> AppScope | None:
    """The switcher's application when the user may see it, else their default one."""
    if chosen and any(a.id == chosen for a in visible):
        try:
            return await access.app_scope(
                session, caller, application_id=chosen, org_id=None, end_user_id=None
            )
        except NotFound:
            pass  # gone since it was listed: the default below
    try:
        return await access.app_scope(
            session, caller, application_id=None, org_id=None, end_user_id=None
        )
    except NotFound:
        return None


async def _resolve_viewer(
    request: Request,
    session: AsyncSession,
    container: Container,
    *,
    temporary_password_allowed: bool,
) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    csrf = request.cookies.get(CSRF_COOKIE, "")
    if not token:
        raise SignInRequired(_request_target(request))
    try:
        user, user_session = await access.authenticate_session(session, token)
    except Unauthenticated as exc:
        raise SignInRequired(_request_target(request)) from exc
    if not csrf or not csrf_is_valid(container.signer, token, csrf):
        # Without a usable token this browser could not post a single form: start over.
        raise SignInRequired(_request_target(request))
    log_fields(request)["user_id"] = user.id
    if user.must_change_password and not temporary_password_allowed:
        raise PasswordChangeRequired()
    caller = Caller(
        "user", user, None, user_session.id, request_id(request), client_address(request)
    )
    visible = await list_for_member(session, user.id)
    chosen = request.cookies.get(APPLICATION_COOKIE, "")[:_MAX_APPLICATION_ID_CHARS]
    scope = await _chosen_scope(session, caller, chosen, visible)
    return Viewer(caller, user, scope, csrf, tuple(visible))


async def current_viewer(request: Request, session: SessionDep, container: ContainerDep) -> Viewer:
    return await _resolve_viewer(request, session, container, temporary_password_allowed=False)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def optional_viewer(request: Request, container: Container) -> Viewer | None:
    """The signed-in viewer, or None, for pages anyone may open."""
    async with reading(container) as session:
        try:
            return await current_viewer(request, session, container)
        except (SignInRequired, PasswordChangeRequired):
            return None


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


async def checked_viewer(request: Request, viewer: ViewerDep) -> Viewer:
    """The viewer of a mutation: the form (or htmx header) must carry the session's token."""
    sent = await _sent_token(request)
    if not sent or not hmac.compare_digest(sent, viewer.csrf_token):
        raise CsrfRefused()
    return viewer


CheckedViewerDep = Annotated[Viewer, Depends(checked_viewer)]


async def password_viewer(request: Request, session: SessionDep, container: ContainerDep) -> Viewer:
    """The viewer of the account page, which a user with a temporary password may open: it is
    where they change it."""
    return await _resolve_viewer(request, session, container, temporary_password_allowed=True)


PasswordViewerDep = Annotated[Viewer, Depends(password_viewer)]


async def checked_password_viewer(request: Request, viewer: PasswordViewerDep) -> Viewer:
    return await checked_viewer(request, viewer)


CheckedPasswordViewerDep = Annotated[Viewer, Depends(checked_password_viewer)]


def anonymous_csrf(request: Request) -> tuple[str, bool]:
    """The token for forms shown before sign-in (sign in, sign up, reset), and whether it is new.

    Double submit without a session: the cookie is SameSite=Lax, so another site's post
    arrives without it and cannot match the field (no login CSRF).
    """
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing, False
    return secrets.token_urlsafe(24), True


async def anonymous_form_is_genuine(request: Request) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = await _sent_token(request)
    return bool(cookie) and bool(sent) and hmac.compare_digest(cookie, sent)
