"""Organizations, their members and invitations. An organization always keeps an owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import token_digest
from corral.core.errors import Conflict, NotFound, PermissionDenied
from corral.core.request_context import Actor
from corral.identity.access import OrgScope
from corral.identity.models import Application, Invitation, Membership, Organization, User
from corral.identity.permissions import Role
from corral.identity.services import invitations

INVITATION_TTL = timedelta(days=7)
DEFAULT_APPLICATION_NAME = "default"


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    email: str
    name: str
    role: str
    joined_at: datetime


async def create_organization(
    session: AsyncSession,
    owner: User,
    *,
    name: str,
    actor: Actor,
    application_name: str = DEFAULT_APPLICATION_NAME,
    application_description: str = "",
) -> tuple[Organization, Application]:
    """A new organization owned by `owner`, with its default application."""
    org = Organization(name=name)
    session.add(org)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=owner.id, role=Role.OWNER.value))
    app = Application(
        org_id=org.id,
        name=application_name,
        description=application_description,
        is_default=True,
    )
    session.add(app)
    await session.flush()
    audit.record(
        session, actor, "org.created", target_type="organization", target_id=org.id, org_id=org.id
    )
    audit.record(
        session,
        actor,
        "application.created",
        target_type="application",
        target_id=app.id,
        org_id=org.id,
        application_id=app.id,
    )
    return org, app


async def list_for_user(session: AsyncSession, user_id: str) -> list[tuple[Organization, str]]:
    rows = await session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.id.desc())
    )
    return [(r[0], r[1]) for r in rows]


async def get(session: AsyncSession, scope: OrgScope) -> Organization:
    scope.require("org:read")
    org = await session.get(Organization, scope.org_id)
    if org is None:
        raise NotFound("organization", code="organization_not_found")
    return org


async def rename(session: AsyncSession, scope: OrgScope, name: str) -> Organization:
    scope.require("org:write")
    org = await get(session, scope)
    org.name = name
    audit.record(
        session,
        scope.caller.actor,
        "org.updated",
        target_type="organization",
        target_id=org.id,
        org_id=org.id,
        details={"name": name},
    )
    return org


async def delete(session: AsyncSession, scope: OrgScope) -> None:
    scope.require("org:delete")
    org = await get(session, scope)
    audit.record(
        session,
        scope.caller.actor,
        "org.deleted",
        target_type="organization",
        target_id=org.id,
        org_id=org.id,
    )
    await session.delete(org)


async def list_members(session: AsyncSession, scope: OrgScope) -> list[Member]:
    scope.require("members:read")
    rows = await session.execute(
        select(User.id, User.email, User.name, Membership.role, Membership.created_at)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == scope.org_id)
        .order_by(Membership.created_at, User.id)
    )
    return [Member(*row) for row in rows]


async def _membership(session: AsyncSession, org_id: str, user_id: str) -> Membership:
    membership = await session.get(Membership, (org_id, user_id))
    if membership is None:
        raise NotFound("member", code="member_not_found")
    return membership


async def _owner_count(session: AsyncSession, org_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.org_id == org_id, Membership.role == Role.OWNER.value)
    )
    return int(count or 0)


def _may_manage(scope: OrgScope, current_role: str, new_role: str | None) -> None:
    touches_owner = current_role == Role.OWNER.value or new_role == Role.OWNER.value
    if touches_owner and scope.role != Role.OWNER.value:
        raise PermissionDenied(
            "only owners may grant or change the owner role", code="owner_required"
        )


async def change_role(session: AsyncSession, scope: OrgScope, user_id: str, role: Role) -> Member:
    scope.require("members:write")
    membership = await _membership(session, scope.org_id, user_id)
    _may_manage(scope, membership.role, role.value)
    demotes_owner = membership.role == Role.OWNER.value and role != Role.OWNER
    if demotes_owner and await _owner_count(session, scope.org_id) <= 1:
        raise Conflict("an organization must keep at least one owner", code="last_owner")
    previous = membership.role
    membership.role = role.value
    audit.record(
        session,
        scope.caller.actor,
        "member.role_changed",
        target_type="user",
        target_id=user_id,
        org_id=scope.org_id,
        details={"from": previous, "to": role.value},
    )
    return next(m for m in await list_members(session, scope) if m.user_id == user_id)


async def remove_member(session: AsyncSession, scope: OrgScope, user_id: str) -> None:
    leaving_self = user_id == scope.caller.user_id
    if not leaving_self:
        scope.require("members:write")
    membership = await _membership(session, scope.org_id, user_id)
    if not leaving_self:
        _may_manage(scope, membership.role, None)
    if membership.role == Role.OWNER.value and await _owner_count(session, scope.org_id) <= 1:
        raise Conflict("an organization must keep at least one owner", code="last_owner")
    await session.delete(membership)
    audit.record(
        session,
        scope.caller.actor,
        "member.removed",
        target_type="user",
        target_id=user_id,
        org_id=scope.org_id,
    )


async def transfer_ownership(session: AsyncSession, scope: OrgScope, user_id: str) -> None:
    """Make another member an owner and step the calling owner down to admin."""
    if scope.role != Role.OWNER.value:
        raise PermissionDenied("only an owner can transfer ownership", code="owner_required")
    if user_id == scope.caller.user_id:
        raise Conflict("you already own this organization", code="already_owner")
    target = await _membership(session, scope.org_id, user_id)
    target.role = Role.OWNER.value
    caller_id = scope.caller.user_id
    assert caller_id is not None
    (await _membership(session, scope.org_id, caller_id)).role = Role.ADMIN.value
    audit.record(
        session,
        scope.caller.actor,
        "org.ownership_transferred",
        target_type="user",
        target_id=user_id,
        org_id=scope.org_id,
    )


async def invite(
    session: AsyncSession,
    scope: OrgScope,
    *,
    email: str,
    role: Role,
    ttl: timedelta = INVITATION_TTL,
) -> tuple[Invitation, str]:
    """An invitation and its one-time token."""
    scope.require("invitations:write")
    _may_manage(scope, Role.VIEWER.value, role.value)
    email = email.strip().lower()
    already = await session.scalar(
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == scope.org_id, User.email == email)
    )
    if already is not None:
        raise Conflict("this person is already a member", code="already_member")
    token = invitations.new_token()
    invitation = Invitation(
        org_id=scope.org_id,
        email=email,
        role=role.value,
        token_digest=token_digest(token),
        invited_by_user_id=scope.caller.user_id,
        expires_at=utcnow() + ttl,
    )
    session.add(invitation)
    await session.flush()
    audit.record(
        session,
        scope.caller.actor,
        "invitation.created",
        target_type="invitation",
        target_id=invitation.id,
        org_id=scope.org_id,
        details={"email": email, "role": role.value},
    )
    return invitation, token


async def list_invitations(session: AsyncSession, scope: OrgScope) -> list[Invitation]:
    scope.require("invitations:read")
    rows = await session.scalars(
        select(Invitation).where(Invitation.org_id == scope.org_id).order_by(Invitation.id.desc())
    )
    return list(rows)


async def revoke_invitation(session: AsyncSession, scope: OrgScope, invitation_id: str) -> None:
    scope.require("invitations:write")
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.org_id != scope.org_id:
        raise NotFound("invitation", code="invitation_not_found")
    await session.delete(invitation)
    audit.record(
        session,
        scope.caller.actor,
        "invitation.revoked",
        target_type="invitation",
        target_id=invitation_id,
        org_id=scope.org_id,
    )
