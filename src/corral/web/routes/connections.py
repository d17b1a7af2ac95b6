"""Connections of the viewer's application: list, create, edit, replace credentials, delete.

Credentials are write-only: the forms take them in password fields that are never filled in
again (not even after a refused post), and pages show only their kind and the header,
parameter or user name they are sent with, as the API does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.connections import service
from corral.connections.models import Connection
from corral.connections.schemas import ConnectionCreate, ConnectionUpdate
from corral.core.errors import CorralError
from corral.web.connection_forms import AUTH_TYPES, auth_body, auth_fields, uri_lines
from corral.web.control import PAGE_SIZE, attempt, show_refusal, validation_message, when
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.scopes import app_scope
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

CONNECTIONS_PATH = "/connections"
ConnectionId = Annotated[str, Path(max_length=64)]
Cursor = Annotated[str | None, Query(max_length=200)]
Field = Annotated[str, Form(max_length=255)]
Uris = Annotated[str, Form(max_length=120_000)]
Secret = Annotated[str, Form(max_length=8192)]
_NEW = {
    "name": "",
    "description": "",
    "end_user_id": "",
    "auth_type": "bearer",
    "auth_name": "",
    "auth_username": "",
    "authorized_uris": "",
}


def _href(connection_id: str) -> str:
    return f"{CONNECTIONS_PATH}/{connection_id}"


def _row(connection: Connection, keyring_kid: str) -> dict[str, Any]:
    return {
        "c": connection,
        "auth": auth_fields(connection.auth_type, connection.auth_params),
        "key_id": keyring_kid,
        "updated": when(connection.updated_at),
        "created": when(connection.created_at),
    }


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    container: ContainerDep,
    *,
    cursor: str | None = None,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    rows, following = await service.list_page(
        session, app_scope(viewer), end_user_id=None, cursor=cursor, limit=PAGE_SIZE
    )
    keyring = container.keyring
    context = page_context(
        request,
        viewer,
        title="Connections",
        connections=[_row(c, keyring.kid_of(c.secret_ciphertext)) for c in rows],
        can_write=viewer.can("connections:write"),
        auth_types=AUTH_TYPES,
        typed=typed or _NEW,
        next_href=f"{CONNECTIONS_PATH}?cursor={following}" if following else None,
    )
    context["error"] = error
    return pages.render("connections.html", context, status_code=status_code)


@router.get(CONNECTIONS_PATH)
async def connections_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
    cursor: Cursor = None,
) -> Response:
    return await _list_page(request, viewer, session, pages, container, cursor=cursor)


@router.post(CONNECTIONS_PATH)
async def create_connection(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Field = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    end_user_id: Field = "",
    auth_type: Field = "bearer",
    auth_name: Field = "",
    auth_username: Field = "",
    secret: Secret = "",
    authorized_uris: Uris = "",
) -> Response:
    scope = app_scope(viewer)
    scope.require("connections:write")
    # Everything typed comes back on a refusal except the credential.
    typed = {
        "name": name,
        "description": description,
        "end_user_id": end_user_id,
        "auth_type": auth_type,
        "auth_name": auth_name,
        "auth_username": auth_username,
        "authorized_uris": authorized_uris,
    }
    try:
        body = ConnectionCreate.model_validate(
            {
                "name": name.strip(),
                "description": description,
                "end_user_id": end_user_id.strip() or None,
                "auth": auth_body(auth_type, auth_name.strip(), auth_username.strip(), secret),
                "authorized_uris": uri_lines(authorized_uris),
            }
        )
    except ValidationError as exc:
        return await _list_page(
            request,
            viewer,
            session,
            pages,
            container,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    created = await attempt(session, service.create(session, scope, container.keyring, body))
    if isinstance(created, CorralError):
        return await show_refusal(
            container,
            session,
            created,
            lambda fresh, code, message: _list_page(
                request,
                viewer,
                fresh,
                pages,
                container,
                status_code=code,
                error=message,
                typed=typed,
            ),
        )
    return after_post(request, _href(created.id))


async def _detail_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    container: ContainerDep,
    connection_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    connection = await service.get(session, app_scope(viewer), connection_id)
    auth = auth_fields(connection.auth_type, connection.auth_params)
    context = page_context(
        request,
        viewer,
        title=f"Connection {connection.name}",
        row=_row(connection, container.keyring.kid_of(connection.secret_ciphertext)),
        can_write=viewer.can("connections:write"),
        auth_types=AUTH_TYPES,
        typed=typed
        or {
            "description": connection.description,
            "authorized_uris": "\n".join(connection.authorized_uris),
            "auth_type": connection.auth_type,
            "auth_name": auth["name"],
            "auth_username": auth["username"],
        },
    )
    context["error"] = error
    return pages.render("connection.html", context, status_code=status_code)


@router.get(CONNECTIONS_PATH + "/{connection_id}")
async def connection_page(
    request: Request,
    connection_id: ConnectionId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
) -> Response:
    return await _detail_page(request, viewer, session, pages, container, connection_id)


def _update_body(
    connection: Connection,
    description: str,
    authorized_uris: str,
    auth_type: str,
    auth_name: str,
    auth_username: str,
    secret: str,
) -> ConnectionUpdate | str:
    """The change the form asks for, or why it cannot be made. A blank credential keeps the
    stored one, which cannot be sent another way without typing it again: pages never read
    it back."""
    fields: dict[str, Any] = {
        "description": description,
        "authorized_uris": uri_lines(authorized_uris),
    }
    if secret:
        fields["auth"] = auth_body(auth_type, auth_name.strip(), auth_username.strip(), secret)
    else:
        stored = auth_fields(connection.auth_type, connection.auth_params)
        if (auth_type, auth_name.strip(), auth_username.strip()) != (
            connection.auth_type,
            stored["name"],
            stored["username"],
        ):
            return "to change how the credential is sent, enter the credential again"
    return ConnectionUpdate.model_validate(fields)


@router.post(CONNECTIONS_PATH + "/{connection_id}")
async def update_connection(
    request: Request,
    connection_id: ConnectionId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    description: Annotated[str, Form(max_length=2000)] = "",
    authorized_uris: Uris = "",
    auth_type: Field = "",
    auth_name: Field = "",
    auth_username: Field = "",
    secret: Secret = "",
) -> Response:
    scope = app_scope(viewer)
    scope.require("connections:write")
    connection = await service.get(session, scope, connection_id)
    typed = {
        "description": description,
        "authorized_uris": authorized_uris,
        "auth_type": auth_type,
        "auth_name": auth_name,
        "auth_username": auth_username,
    }
    try:
        body = _update_body(
            connection, description, authorized_uris, auth_type, auth_name, auth_username, secret
        )
    except ValidationError as exc:
        body = validation_message(exc)
    if isinstance(body, str):
        return await _detail_page(
            request,
            viewer,
            session,
            pages,
            container,
            connection_id,
            status_code=422,
            error=body,
            typed=typed,
        )
    updated = await attempt(
        session, service.update(session, scope, container.keyring, connection_id, body)
    )
    if isinstance(updated, CorralError):
        return await show_refusal(
            container,
            session,
            updated,
            lambda fresh, code, message: _detail_page(
                request,
                viewer,
                fresh,
                pages,
                container,
                connection_id,
                status_code=code,
                error=message,
                typed=typed,
            ),
        )
    return after_post(request, _href(connection_id))


@router.post(CONNECTIONS_PATH + "/{connection_id}/delete")
async def delete_connection(
    request: Request, connection_id: ConnectionId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    await service.delete(session, app_scope(viewer), connection_id)
    return after_post(request, CONNECTIONS_PATH)
