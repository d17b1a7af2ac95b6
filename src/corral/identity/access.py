"""Authentication (who is calling) and tenancy scoping (in which organization and application).

Every request resolves to a `Caller`; routes that touch application-owned rows narrow it to an
`AppScope`, org-level routes to an `OrgScope`. Objects outside the scope answer 404, never 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.clock import utcnow
from corral.core.crypto import token_digest
from corral.core.errors import NotFound, PermissionDenied, Unauthenticated
from corral.core.ids import is_well_formed
from corral.core.request_context import Actor
from corral.identity.models import ApiKey, Application, EndUser, Membership, User, UserSession
from corral.identity.permissions import permissions_for

API_KEY_PREFIX = "crl_"
LOOKUP_PREFIX_CHARS = 12
# Writing last_used_at on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Caller:
    # `run`: a hosted agent run acting inside its application (its sidecar's tool calls).
    kind: Literal["user", "api_key", "run"]
    user: User | None
    api_key: ApiKey | None
    session_id: str | None
    request_id: str | None
    ip_address: str | None
    run_id: str | None = None
    user_agent: str | None = None

    @property
    def actor(self) -> Actor:
        if self.kind == "run":
            return Actor("run", self.run_id, self.request_id)
        actor_id = self.user.id if self.user else self.api_key.id if self.api_key else None
        return Actor(self.kind, actor_id, self.request_id, self.ip_address, self.user_agent)

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user else None


@dataclass(frozen=True, slots=True)
class OrgScope:
    caller: Caller
    org_id: str
    role: str
    permissions: frozenset[str]

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(
                f"this action needs the '{permission}' permission", code="missing_permission"
            )


@dataclass(frozen=True, slots=True)
class AppScope:
    caller: Caller
    org_id: str
    application_id: str
    role: str | None
    permissions: frozenset[str]
    end_user_id: str | None

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            code = "missing_scope" if self.caller.kind == "api_key" else "missing_permission"
            raise PermissionDenied(f"this action needs the '{permission}' permission", code=code)


def run_scope(
    *,
    run_id: str,
    org_id: str,
    application_id: str,
    end_user_id: str | None,
    permissions: frozenset[str],
) -> AppScope:
    """The scope of a hosted run: its application, narrowed to its end-user, with only the
    permissions its sidecar needs. Built by the server from the run's row, never from a request.
    """
    caller = Caller("run", None, None, None, None, None, run_id=run_id)
    return AppScope(caller, org_id, application_id, None, permissions, end_user_id)


async def authenticate_api_key(session: AsyncSession, token: str) -> ApiKey:
    if not token.startswith(API_KEY_PREFIX) or len(token) < LOOKUP_PREFIX_CHARS + 8:
        raise Unauthenticated("invalid API key", code="invalid_api_key")
    key = await session.scalar(
        select(ApiKey).where(ApiKey.lookup_prefix == token[:LOOKUP_PREFIX_CHARS])
    )
    if key is None or not hmac.compare_digest(key.secret_digest, token_digest(token)):
        raise Unauthenticated("invalid API key", code="invalid_api_key")
    now = utcnow()
    if key.revoked_at is not None:
        raise Unauthenticated("this API key was revoked", code="api_key_revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthenticated("this API key has expired", code="api_key_expired")
    return key


def needs_touch(key: ApiKey) -> bool:
    """Whether `last_used_at` is stale enough to be written again."""
    return key.last_used_at is None or utcnow() - key.last_used_at >= _LAST_USED_RESOLUTION


async def touch_api_key(session: AsyncSession, key_id: str) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


async def authenticate_session(session: AsyncSession, token: str) -> tuple[User, UserSession]:
    row = (
        await session.execute(
            select(User, UserSession)
            .join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.token_digest == token_digest(token))
        )
    ).first()
    if row is None or row[1].expires_at <= utcnow():
        raise Unauthenticated("session expired or signed out", code="invalid_session")
    return row[0], row[1]


async def org_scope(session: AsyncSession, caller: Caller, org_id: str) -> OrgScope:
    """The caller's standing in an organization; 404 when they are not a member."""
    if caller.user is None:
        if caller.api_key is not None and caller.api_key.org_id == org_id:
            raise PermissionDenied(
                "organization management needs a user session, not an API key",
                code="user_session_required",
            )
        raise NotFound("organization", code="organization_not_found")
    if not is_well_formed(org_id, "org"):
        raise NotFound("organization", code="organization_not_found")
    role = await session.scalar(
        select(Membership.role).where(
            Membership.org_id == org_id, Membership.user_id == caller.user.id
        )
    )
    if role is None:
        raise NotFound("organization", code="organization_not_found")
    return OrgScope(caller, org_id, role, permissions_for(role))


async def _default_org_id(session: AsyncSession, user_id: str) -> str:
    org_id = await session.scalar(
        select(Membership.org_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.org_id)
        .limit(1)
    )
    if org_id is None:
        raise NotFound("organization", code="no_organization")
    return org_id


async def app_scope(
    session: AsyncSession,
    caller: Caller,
    *,
    application_id: str | None,
    org_id: str | None,
    end_user_id: str | None,
) -> AppScope:
    """Narrow a caller to one application (and, for API keys, optionally one end-user)."""
    if caller.api_key is not None:
        key = caller.api_key
        if application_id is not None and application_id != key.application_id:
            raise NotFound("application", code="application_not_found")
        end_user = None
        if end_user_id is not None:
            end_user = await session.scalar(
                select(EndUser.id).where(
                    EndUser.id == end_user_id, EndUser.application_id == key.application_id
                )
            )
            if end_user is None:
                raise NotFound("end-user", code="end_user_not_found")
        return AppScope(
            caller, key.org_id, key.application_id, None, frozenset(key.scopes), end_user
        )
    assert caller.user is not None
    if end_user_id is not None:
        raise PermissionDenied(
            "only API keys may act as an end-user (Corral-End-User)", code="impersonation_forbidden"
        )
    if application_id is not None:
        row = (
            await session.execute(
                select(Application.id, Application.org_id, Membership.role)
                .join(Membership, Membership.org_id == Application.org_id)
                .where(Application.id == application_id, Membership.user_id == caller.user.id)
            )
        ).first()
        if row is None:
            raise NotFound("application", code="application_not_found")
        return AppScope(caller, row.org_id, row.id, row.role, permissions_for(row.role), None)
    target_org = org_id or await _default_org_id(session, caller.user.id)
    scope = await org_scope(session, caller, target_org)
    app_id = await session.scalar(
        select(Application.id).where(Application.org_id == target_org, Application.is_default)
    )
    if app_id is None:
        raise NotFound("application", code="application_not_found")
    return AppScope(caller, target_org, app_id, scope.role, scope.permissions, None)
