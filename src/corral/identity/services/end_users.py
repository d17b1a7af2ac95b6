"""End-users: the application's own customers, on whose behalf agents act."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, PermissionDenied
from corral.core.ids import is_well_formed
from corral.core.pagination import paginate
from corral.identity.access import AppScope
from corral.identity.models import EndUser

METADATA_MAX_BYTES = 16_384
METADATA_MAX_KEYS = 64
METADATA_MAX_KEY_CHARS = 128


def check_metadata(metadata: dict[str, Any]) -> None:
    if len(metadata) > METADATA_MAX_KEYS:
        raise InvalidInput(
            f"metadata holds at most {METADATA_MAX_KEYS} keys", code="metadata_too_many_keys"
        )
    if any(len(k) > METADATA_MAX_KEY_CHARS for k in metadata):
        raise InvalidInput(
            f"metadata keys are at most {METADATA_MAX_KEY_CHARS} characters",
            code="metadata_key_too_long",
        )
    try:
        encoded = orjson.dumps(metadata)
    except orjson.JSONEncodeError as exc:
        # orjson refuses what would not round-trip, such as integers beyond 64 bits.
        raise InvalidInput(f"metadata cannot be stored: {exc}", code="invalid_metadata") from exc
    if len(encoded) > METADATA_MAX_BYTES:
        raise PayloadTooLarge(
            f"metadata is at most {METADATA_MAX_BYTES} bytes as JSON", code="metadata_too_large"
        )


def _no_impersonation(scope: AppScope) -> None:
    if scope.end_user_id is not None:
        raise PermissionDenied(
            "acting as an end-user, you cannot create or delete end-users",
            code="impersonation_forbidden",
        )


async def create(
    session: AsyncSession,
    scope: AppScope,
    *,
    external_id: str,
    name: str | None,
    email: str | None,
    metadata: dict[str, Any],
) -> EndUser:
    scope.require("end_users:write")
    _no_impersonation(scope)
    check_metadata(metadata)
    end_user = EndUser(
        org_id=scope.org_id,
        application_id=scope.application_id,
        external_id=external_id,
        name=name,
        email=email,
        metadata_=metadata,
    )
    session.add(end_user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "an end-user with this external_id exists in the application", code="external_id_taken"
        ) from exc
    _audit(session, scope, "end_user.created", end_user.id)
    return end_user


async def list_page(
    session: AsyncSession,
    scope: AppScope,
    *,
    external_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[EndUser], str | None]:
    scope.require("end_users:read")
    query = select(EndUser).where(EndUser.application_id == scope.application_id)
    if scope.end_user_id is not None:
        query = query.where(EndUser.id == scope.end_user_id)
    if external_id is not None:
        query = query.where(EndUser.external_id == external_id)
    return await paginate(session, query, EndUser.id, cursor=cursor, limit=limit)


async def get(session: AsyncSession, scope: AppScope, end_user_id: str) -> EndUser:
    scope.require("end_users:read")
    if scope.end_user_id is not None and end_user_id != scope.end_user_id:
        raise NotFound("end-user", code="end_user_not_found")
    if not is_well_formed(end_user_id, "eu"):
        raise NotFound("end-user", code="end_user_not_found")
    end_user = await session.get(EndUser, end_user_id)
    if end_user is None or end_user.application_id != scope.application_id:
        raise NotFound("end-user", code="end_user_not_found")
    return end_user


async def update(
    session: AsyncSession,
    scope: AppScope,
    end_user_id: str,
    *,
    changes: dict[str, Any],
) -> EndUser:
    scope.require("end_users:write")
    end_user = await get(session, scope, end_user_id)
    if "metadata" in changes:
        metadata = changes.pop("metadata")
        if metadata is None:
            raise InvalidInput(
                "metadata cannot be null; send {} to clear it", code="invalid_metadata"
            )
        check_metadata(metadata)
        end_user.metadata_ = metadata
    for field in ("name", "email"):
        if field in changes:
            setattr(end_user, field, changes[field])
    end_user.updated_at = utcnow()
    _audit(session, scope, "end_user.updated", end_user.id)
    return end_user


async def delete(session: AsyncSession, scope: AppScope, end_user_id: str) -> None:
    scope.require("end_users:write")
    _no_impersonation(scope)
    end_user = await get(session, scope, end_user_id)
    await session.delete(end_user)
    _audit(session, scope, "end_user.deleted", end_user_id)


def _audit(session: AsyncSession, scope: AppScope, action: str, end_user_id: str) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="end_user",
        target_id=end_user_id,
    )
