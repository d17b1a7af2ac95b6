"""Invitations beyond their creation: the email's context, resending, and accepting.

An invitation's token is stored as its digest only, is bound to the invited email address,
expires, and is consumed by a conditional write, so it joins at most one person once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import token_digest
from corral.core.errors import Conflict, InvalidInput, NotFound
from corral.core.request_context import Actor
from corral.identity.access import OrgScope
from corral.identity.models import Invitation, Membership, Organization, User

TOKEN_PREFIX = "inv_"  # noqa: S105 — a prefix, not a secret


@dataclass(frozen=True, slots=True)
class InvitationEmailContext:
    org_name: str
    inviter_email: str | None


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _invalid() -> InvalidInput:
    return InvalidInput(
        "the invitation is unknown, used, revoked, expired, or for another email",
        code="invalid_invitation",
    )


async def usable(session: AsyncSession, token: str, email: str) -> Invitation:
    """The pending invitation this token opens for this email address, else 422."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_digest == token_digest(token))
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.expires_at <= utcnow()
        or invitation.email != email.strip().lower()
    ):
        raise _invalid()
    return invitation


async def consume(
    session: AsyncSession, invitation: Invitation, user_id: str, *, actor: Actor
) -> None:
    """Mark accepted (once, even under a race) and make the user a member with its role."""
    now = utcnow()
    result = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _invalid()
    invitation.accepted_at = now
    session.add(Membership(org_id=invitation.org_id, user_id=user_id, role=invitation.role))
    audit.record(
        session,
        actor,
        "invitation.accepted",
        target_type="invitation",
        target_id=invitation.id,
        org_id=invitation.org_id,
        details={"role": invitation.role},
    )


async def accept(session: AsyncSession, user: User, token: str, *, actor: Actor) -> Invitation:
    """A signed-in user joins the organization that invited their email address."""
    invitation = await usable(session, token, user.email)
    member = await session.get(Membership, (invitation.org_id, user.id))
    if member is not None:
        raise Conflict("you are already a member of this organization", code="already_member")
    await consume(session, invitation, user.id, actor=actor)
    return invitation


async def email_context(session: AsyncSession, invitation: Invitation) -> InvitationEmailContext:
    org_name = await session.scalar(
        select(Organization.name).where(Organization.id == invitation.org_id)
    )
    inviter = (
        await session.scalar(select(User.email).where(User.id == invitation.invited_by_user_id))
        if invitation.invited_by_user_id
        else None
    )
    return InvitationEmailContext(org_name or invitation.org_id, inviter)


async def resend(
    session: AsyncSession, scope: OrgScope, invitation_id: str, *, ttl: timedelta
) -> tuple[Invitation, str]:
    """A fresh token (the previous link stops working) and a renewed expiry."""
    scope.require("invitations:write")
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.org_id != scope.org_id:
        raise NotFound("invitation", code="invitation_not_found")
    if invitation.accepted_at is not None:
        raise Conflict("this invitation was already accepted", code="invitation_accepted")
    token = new_token()
    invitation.token_digest = token_digest(token)
    invitation.expires_at = utcnow() + ttl
    audit.record(
        session,
        scope.caller.actor,
        "invitation.resent",
        target_type="invitation",
        target_id=invitation.id,
        org_id=scope.org_id,
    )
    return invitation, token
