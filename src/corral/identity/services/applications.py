"""Applications: the workspace boundary inside an organization."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.errors import Conflict, NotFound, PermissionDenied
from corral.core.request_context import Actor
from corral.identity.access import AppScope, Caller, OrgScope
from corral.identity.models import Application, Membership, Organization


@dataclass(frozen=True, slots=True)
class MemberApplication:
    """An application a user can open, with its organization (for a switcher across orgs)."""

    id: str
    name: str
    is_default: bool
    org_id: str
    org_name: str


async def list_visible(
    session: AsyncSession, caller: Caller, *, org_id: str | None
) -> list[Application]:
    """Applications the caller can see: its own for an API key, its orgs' for a user."""
    if caller.api_key is not None:
        if "apps:read" not in caller.api_key.scopes:
            raise PermissionDenied(
                "this action needs the 'apps:read' permission", code="missing_scope"
            )
        app = await session.get(Application, caller.api_key.application_id)
        return [app] if app is not None and org_id in (None, app.org_id) else []
    assert caller.user is not None
    query = (
        select(Application)
        .join(Membership, Membership.org_id == Application.org_id)
        .where(Membership.user_id == caller.user.id)
        .order_by(Application.id.desc())
    )
    if org_id is not None:
        query = query.where(Application.org_id == org_id)
    return list(await session.scalars(query))


async def list_for_member(session: AsyncSession, user_id: str) -> list[MemberApplication]:
    """Every application of every organization the user belongs to: organizations in the order
    joined, each's default application first, then by name."""
    rows = await session.execute(
        select(
            Application.id,
            Application.name,
            Application.is_default,
            Organization.id,
            Organization.name,
        )
        .join(Organization, Organization.id == Application.org_id)
        .join(Membership, Membership.org_id == Application.org_id)
        .where(Membership.user_id == user_id)
        .order_by(
            Membership.created_at,
            Organization.id,
            Application.is_default.desc(),
            Application.name,
        )
    )
    return [MemberApplication(*row) for row in rows]


async def create(
    session: AsyncSession, scope: OrgScope, *, name: str, description: str
) -> Application:
    scope.require("apps:write")
    app = Application(org_id=scope.org_id, name=name, description=description, is_default=False)
    session.add(app)
    return await _save(session, scope.caller.actor, app, "application.created")


async def get(session: AsyncSession, scope: AppScope) -> Application:
    scope.require("apps:read")
    app = await session.get(Application, scope.application_id)
    if app is None:
        raise NotFound("application", code="application_not_found")
    return app


async def update(
    session: AsyncSession, scope: AppScope, *, name: str | None, description: str | None
) -> Application:
    scope.require("apps:write")
    app = await get(session, scope)
    if name is not None:
        app.name = name
    if description is not None:
        app.description = description
    return await _save(session, scope.caller.actor, app, "application.updated")


async def _save(session: AsyncSession, actor: Actor, app: Application, action: str) -> Application:
    """Flush the change (names are unique per organization) and record it."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "an application with this name exists", code="application_name_taken"
        ) from exc
    audit.record(
        session,
        actor,
        action,
        target_type="application",
        target_id=app.id,
        org_id=app.org_id,
        application_id=app.id,
    )
    return app


async def delete(session: AsyncSession, scope: AppScope) -> None:
    scope.require("apps:write")
    app = await get(session, scope)
    if app.is_default:
        raise Conflict("the default application cannot be deleted", code="default_application")
    audit.record(
        session,
        scope.caller.actor,
        "application.deleted",
        target_type="application",
        target_id=app.id,
        org_id=app.org_id,
        application_id=app.id,
    )
    await session.delete(app)
