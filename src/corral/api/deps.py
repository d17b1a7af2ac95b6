"""FastAPI dependencies: typed aliases that routes declare to get what they need."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from corral.container import Container
from corral.core.db import READ_ONLY
from corral.core.errors import NotFound, PermissionDenied, Unauthenticated
from corral.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from corral.identity import access
from corral.identity.access import AppScope, Caller
from corral.identity.services.accounts import csrf_is_valid

SESSION_COOKIE = "corral_session"
CSRF_COOKIE = "corral_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Writes that happen elsewhere (the ingest writer task, the decision evidence's own short
# transaction): the request itself only reads.
_READ_ONLY_POSTS = frozenset({"/v1/traces", "/api/decisions", "/api/policies/simulate"})


def reads_only(request: Request) -> bool:
    """Whether the request's own unit of work never writes (so SQLite needs no write lock)."""
    return request.method in _SAFE_METHODS or request.url.path in _READ_ONLY_POSTS


# What a user who must change their password may still do.
_PASSWORD_CHANGE_PATHS = frozenset({"/api/auth/password", "/api/auth/logout", "/api/me"})


async def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(container_of)]


async def db_session(request: Request, container: ContainerDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back on error."""
    async with container.sessions() as session, session.begin():
        if reads_only(request):
            # Reads need no write lock; on SQLite this lets them run beside a writer.
            await session.connection(execution_options={READ_ONLY: True})
        yield session


# "function": commit before the response is sent, so a failed commit is never reported
# to the client as success.
SessionDep = Annotated[AsyncSession, Depends(db_session, scope="function")]


def log_fields(request: Request) -> dict[str, object]:
    fields: dict[str, object] = request.scope.setdefault("state", {}).setdefault("log_fields", {})
    return fields


def request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


def client_address(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("client_ip")
    return str(value) if value else None


def user_agent(request: Request) -> str | None:
    """The client's `User-Agent`, cut to what an audit row keeps."""
    value = request.headers.get("user-agent")
    return value[:256] if value else None


async def current_caller(request: Request, session: SessionDep, container: ContainerDep) -> Caller:
    fields = log_fields(request)
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "use `Authorization: Bearer crl_…`", code="invalid_authorization_header"
            )
        key = await access.authenticate_api_key(session, token.strip())
        if access.needs_touch(key):
            if reads_only(request):
                # Written after, by a task of its own: the read stays read-only and never holds
                # its connection while waiting for a second one.
                container.key_usage.schedule(key.id)
            else:
                await access.touch_api_key(session, key.id)
        fields.update(api_key_id=key.id, org_id=key.org_id, application_id=key.application_id)
        return Caller(
            "api_key",
            None,
            key,
            None,
            request_id(request),
            client_address(request),
            user_agent=user_agent(request),
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated(
            "send `Authorization: Bearer crl_…` or sign in first", code="unauthenticated"
        )
    user, user_session = await access.authenticate_session(session, cookie)
    fields["user_id"] = user.id
    if request.method not in _SAFE_METHODS:
        csrf = request.headers.get(CSRF_HEADER)
        if (
            not csrf
            or csrf != request.cookies.get(CSRF_COOKIE)
            or not csrf_is_valid(container.signer, cookie, csrf)
        ):
            raise PermissionDenied(
                f"cookie-authenticated changes need the {CSRF_HEADER} header", code="csrf_failed"
            )
    if user.must_change_password and request.url.path not in _PASSWORD_CHANGE_PATHS:
        raise PermissionDenied(
            "change your temporary password first (POST /api/auth/password)",
            code="password_change_required",
        )
    return Caller(
        "user",
        user,
        None,
        user_session.id,
        request_id(request),
        client_address(request),
        user_agent=user_agent(request),
    )


CallerDep = Annotated[Caller, Depends(current_caller)]


async def current_app_scope(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    corral_application: Annotated[
        str | None,
        Header(description="Application to act in (sessions); the org's default when absent."),
    ] = None,
    corral_organization: Annotated[
        str | None,
        Header(description="Organization whose default application to use (sessions)."),
    ] = None,
    corral_end_user: Annotated[
        str | None, Header(description="API keys only: act as this end-user (`eu_…`).")
    ] = None,
) -> AppScope:
    scope = await access.app_scope(
        session,
        caller,
        application_id=corral_application,
        org_id=corral_organization,
        end_user_id=corral_end_user,
    )
    fields = log_fields(request)
    fields.update(org_id=scope.org_id, application_id=scope.application_id)
    if scope.end_user_id:
        fields["end_user_id"] = scope.end_user_id
    return scope


AppScopeDep = Annotated[AppScope, Depends(current_app_scope)]


async def maybe_app_scope(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    corral_application: Annotated[str | None, Header()] = None,
    corral_organization: Annotated[str | None, Header()] = None,
    corral_end_user: Annotated[str | None, Header()] = None,
) -> AppScope | None:
    """Like the application scope, but None for a user who belongs to no organization yet."""
    if caller.user is not None and not (
        corral_application or corral_organization or corral_end_user
    ):
        try:
            return await current_app_scope(request, session, caller)
        except NotFound:
            return None
    return await current_app_scope(
        request, session, caller, corral_application, corral_organization, corral_end_user
    )


MaybeAppScopeDep = Annotated[AppScope | None, Depends(maybe_app_scope)]


@dataclass(frozen=True, slots=True)
class PageParams:
    cursor: str | None
    limit: int


async def page_params(
    cursor: Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    return PageParams(cursor, limit)


PageDep = Annotated[PageParams, Depends(page_params)]
