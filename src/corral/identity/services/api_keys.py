"""API keys: `crl_` + 256 random bits, shown once, stored as a digest, bound to one application."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import token_digest
from corral.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from corral.core.pagination import paginate
from corral.core.request_context import Actor
from corral.identity.access import API_KEY_PREFIX, LOOKUP_PREFIX_CHARS, AppScope
from corral.identity.models import ApiKey
from corral.identity.permissions import KEY_SCOPES


def new_token() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def _check_scopes(requested: Iterable[str], allowed: frozenset[str]) -> list[str]:
    scopes = sorted(set(requested))
    unknown = [s for s in scopes if s not in KEY_SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scopes: {', '.join(unknown)} (GET /api/api-keys/scopes lists them)",
            code="unknown_scope",
        )
    beyond = [s for s in scopes if s not in allowed]
    if beyond:
        raise PermissionDenied(
            f"a key cannot hold more than its creator may do: {', '.join(beyond)}",
            code="scope_exceeds_caller",
        )
    return scopes


def build_key(
    *,
    org_id: str,
    application_id: str,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    created_by_user_id: str | None,
    token: str | None = None,
) -> tuple[ApiKey, str]:
    token = token or new_token()
    key = ApiKey(
        org_id=org_id,
        application_id=application_id,
        name=name,
        lookup_prefix=token[:LOOKUP_PREFIX_CHARS],
        secret_digest=token_digest(token),
        scopes=scopes,
        expires_at=expires_at,
        created_by_user_id=created_by_user_id,
    )
    return key, token


def _creator_id(scope: AppScope) -> str | None:
    if scope.caller.user is not None:
        return scope.caller.user.id
    return scope.caller.api_key.created_by_user_id if scope.caller.api_key else None


async def create(
    session: AsyncSession,
    scope: AppScope,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    scope.require("api_keys:write")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future", code="invalid_expiry")
    checked = _check_scopes(scopes, scope.permissions)
    key, token = build_key(
        org_id=scope.org_id,
        application_id=scope.application_id,
        name=name,
        scopes=checked,
        expires_at=expires_at,
        created_by_user_id=_creator_id(scope),
    )
    session.add(key)
    await session.flush()
    _audit(session, scope.caller.actor, "api_key.created", key, {"scopes": checked})
    return key, token


async def list_page(
    session: AsyncSession, scope: AppScope, *, cursor: str | None, limit: int
) -> tuple[Sequence[ApiKey], str | None]:
    scope.require("api_keys:read")
    query = select(ApiKey).where(ApiKey.application_id == scope.application_id)
    return await paginate(session, query, ApiKey.id, cursor=cursor, limit=limit)


async def get(session: AsyncSession, scope: AppScope, key_id: str) -> ApiKey:
    scope.require("api_keys:read")
    key = await session.get(ApiKey, key_id)
    if key is None or key.application_id != scope.application_id:
        raise NotFound("API key", code="api_key_not_found")
    return key


async def rotate(
    session: AsyncSession, scope: AppScope, key_id: str, *, grace_seconds: int
) -> tuple[ApiKey, str]:
    """A successor with the same name, scopes and expiry; the old key lives on for the grace."""
    scope.require("api_keys:write")
    old = await get(session, scope, key_id)
    now = utcnow()
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise Conflict("a revoked or expired key cannot be rotated", code="api_key_inactive")
    if old.replaced_by_id is not None:
        raise Conflict("this key was already rotated", code="api_key_already_rotated")
    scopes = _check_scopes(old.scopes, scope.permissions)
    new, token = build_key(
        org_id=old.org_id,
        application_id=old.application_id,
        name=old.name,
        scopes=scopes,
        expires_at=old.expires_at,
        created_by_user_id=_creator_id(scope),
    )
    session.add(new)
    await session.flush()
    grace_end = now + timedelta(seconds=grace_seconds)
    old.expires_at = grace_end if old.expires_at is None else min(old.expires_at, grace_end)
    old.replaced_by_id = new.id
    _audit(session, scope.caller.actor, "api_key.rotated", old, {"successor": new.id})
    return new, token


async def revoke(session: AsyncSession, scope: AppScope, key_id: str) -> ApiKey:
    scope.require("api_keys:write")
    key = await get(session, scope, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        _audit(session, scope.caller.actor, "api_key.revoked", key, {})
    return key


def _audit(
    session: AsyncSession, actor: Actor, action: str, key: ApiKey, details: dict[str, object]
) -> None:
    audit.record(
        session,
        actor,
        action,
        target_type="api_key",
        target_id=key.id,
        org_id=key.org_id,
        application_id=key.application_id,
        details=details,
    )


async def by_lookup_prefix(session: AsyncSession, token: str) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.lookup_prefix == token[:LOOKUP_PREFIX_CHARS])
    )
