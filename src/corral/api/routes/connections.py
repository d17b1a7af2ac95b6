"""Connections of the current application (and its end-users); credentials are write-only."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, status

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.connections import service
from corral.connections.models import Connection
from corral.connections.schemas import AuthRead, ConnectionCreate, ConnectionRead, ConnectionUpdate
from corral.core.pagination import Page

router = APIRouter(tags=["connections"], responses=ERRORS)

ConnectionId = Annotated[str, Path(max_length=64)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("A connection with this name exists for the same owner.")
}
AuthType = Literal["header", "query", "bearer", "basic"]


def read_connection(connection: Connection, key_id: str) -> ConnectionRead:
    return ConnectionRead(
        id=connection.id,
        name=connection.name,
        description=connection.description,
        end_user_id=connection.end_user_id,
        auth=AuthRead(type=cast(AuthType, connection.auth_type), **connection.auth_params),
        authorized_uris=connection.authorized_uris,
        key_id=key_id,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


@router.get("/api/connections", response_model=Page[ConnectionRead])
async def list_connections(
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    page: PageDep,
    end_user_id: Annotated[
        str | None, Query(max_length=40, description="Only this end-user's connections.")
    ] = None,
) -> Page[ConnectionRead]:
    """The application's connections (and its end-users'), newest first."""
    rows, cursor = await service.list_page(
        session, scope, end_user_id=end_user_id, cursor=page.cursor, limit=page.limit
    )
    keyring = container.keyring
    return Page[ConnectionRead](
        data=[read_connection(r, keyring.kid_of(r.secret_ciphertext)) for r in rows],
        next_cursor=cursor,
    )


@router.post(
    "/api/connections",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectionRead,
    responses=_CONFLICT,
)
async def create_connection(
    body: ConnectionCreate, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> ConnectionRead:
    """Store credentials, encrypted, with the URL globs they may be sent to."""
    connection = await service.create(session, scope, container.keyring, body)
    return read_connection(connection, container.keyring.active_kid)


@router.get("/api/connections/{connection_id}", response_model=ConnectionRead)
async def get_connection(
    connection_id: ConnectionId, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> ConnectionRead:
    """One connection; its credentials are never returned."""
    connection = await service.get(session, scope, connection_id)
    return read_connection(connection, container.keyring.kid_of(connection.secret_ciphertext))


@router.patch("/api/connections/{connection_id}", response_model=ConnectionRead)
async def update_connection(
    connection_id: ConnectionId,
    body: ConnectionUpdate,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
) -> ConnectionRead:
    """Change the description, the URL globs, or replace the credentials whole."""
    connection = await service.update(session, scope, container.keyring, connection_id, body)
    return read_connection(connection, container.keyring.kid_of(connection.secret_ciphertext))


@router.delete("/api/connections/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connection(
    connection_id: ConnectionId, scope: AppScopeDep, session: SessionDep
) -> None:
    """Delete the connection and its credentials."""
    await service.delete(session, scope, connection_id)
