"""Connections of an application and of its end-users: create, read, change, delete.

Credentials are sealed with the active encryption key before they reach the session and are
never read back here; responses describe only their kind. A key acting as an end-user sees and
changes only that end-user's connections. Every change writes an audit event without secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.connections import credentials
from corral.connections.models import Connection
from corral.connections.schemas import ConnectionCreate, ConnectionUpdate
from corral.core.clock import utcnow
from corral.core.crypto import EncryptionKeyring
from corral.core.errors import Conflict, NotFound
from corral.core.ids import is_well_formed, new_id
from corral.core.pagination import paginate
from corral.identity.access import AppScope
from corral.identity.models import EndUser


def connection_not_found() -> NotFound:
    return NotFound("connection", code="connection_not_found")


def _audit(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    connection: Connection,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="connection",
        target_id=connection.id,
        details={"name": connection.name, **(details or {})},
    )


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a connection named {name!r} exists for this owner", code="connection_name_taken"
        ) from exc


async def _require_end_user(session: AsyncSession, scope: AppScope, end_user_id: str) -> None:
    """404 for an end-user of another application, or another than the impersonated one."""
    found = is_well_formed(end_user_id, "eu") and (
        scope.end_user_id is None or end_user_id == scope.end_user_id
    )
    end_user = await session.get(EndUser, end_user_id) if found else None
    if end_user is None or end_user.application_id != scope.application_id:
        raise NotFound("end-user", code="end_user_not_found")


async def create(
    session: AsyncSession, scope: AppScope, keyring: EncryptionKeyring, body: ConnectionCreate
) -> Connection:
    scope.require("connections:write")
    owner = body.end_user_id if scope.end_user_id is None else scope.end_user_id
    if owner is not None:
        await _require_end_user(session, scope, owner)
    auth_type, public, secret = credentials.split_auth(body.auth)
    connection = Connection(
        id=new_id("con"),
        org_id=scope.org_id,
        application_id=scope.application_id,
        end_user_id=owner,
        owner_key=owner or "",
        name=body.name,
        description=body.description,
        auth_type=auth_type,
        auth_params=public,
        authorized_uris=body.authorized_uris,
    )
    credentials.seal(keyring, connection, secret)
    session.add(connection)
    await _flush_unique(session, body.name)
    _audit(session, scope, "connection.created", connection, {"auth_type": auth_type})
    return connection


async def get(
    session: AsyncSession, scope: AppScope, connection_id: str, *, for_update: bool = False
) -> Connection:
    scope.require("connections:read")
    if not is_well_formed(connection_id, "con"):
        raise connection_not_found()
    query = select(Connection).where(
        Connection.id == connection_id, Connection.application_id == scope.application_id
    )
    if scope.end_user_id is not None:
        query = query.where(Connection.end_user_id == scope.end_user_id)
    if for_update:
        query = query.with_for_update()
    connection: Connection | None = await session.scalar(query)
    if connection is None:
        raise connection_not_found()
    return connection


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    end_user_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Connection], str | None]:
    scope.require("connections:read")
    query = select(Connection).where(Connection.application_id == scope.application_id)
    owner = scope.end_user_id or end_user_id
    if owner is not None:
        query = query.where(Connection.end_user_id == owner)
    return await paginate(session, query, Connection.id, cursor=cursor, limit=limit)


async def update(
    session: AsyncSession,
    scope: AppScope,
    keyring: EncryptionKeyring,
    connection_id: str,
    body: ConnectionUpdate,
) -> Connection:
    scope.require("connections:write")
    connection = await get(session, scope, connection_id, for_update=True)
    changed = sorted(body.model_fields_set)
    if body.description is not None:
        connection.description = body.description
    if body.authorized_uris is not None:
        connection.authorized_uris = body.authorized_uris
    if body.auth is not None:
        auth_type, public, secret = credentials.split_auth(body.auth)
        connection.auth_type, connection.auth_params = auth_type, public
        credentials.seal(keyring, connection, secret)
    connection.updated_at = utcnow()
    _audit(session, scope, "connection.updated", connection, {"changed": changed})
    return connection


async def delete(session: AsyncSession, scope: AppScope, connection_id: str) -> None:
    scope.require("connections:write")
    connection = await get(session, scope, connection_id, for_update=True)
    _audit(session, scope, "connection.deleted", connection)
    await session.delete(connection)
