"""Organizations, members, invitations and ownership transfer."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, status

from corral.api.deps import CallerDep, ContainerDep, SessionDep, current_caller
from corral.api.openapi import ERRORS
from corral.container import Container
from corral.core.db import transaction
from corral.core.errors import PermissionDenied
from corral.identity import access
from corral.identity.access import Caller
from corral.identity.models import Invitation
from corral.identity.schemas import (
    InvitationAccept,
    InvitationAccepted,
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    MemberRead,
    MemberUpdate,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
    OwnershipTransfer,
)
from corral.identity.services import invitations, organizations
from corral.identity.services.invitations import InvitationEmailContext
from corral.notify.messages import INVITATION_PATH, invitation_email, link

router = APIRouter(tags=["organizations"], responses=ERRORS)


def _user(caller: Caller) -> Caller:
    if caller.user is None:
        raise PermissionDenied(
            "organization management needs a user session, not an API key",
            code="user_session_required",
        )
    return caller


def _member(m: organizations.Member) -> MemberRead:
    return MemberRead.model_validate(
        {
            "user_id": m.user_id,
            "email": m.email,
            "name": m.name,
            "role": m.role,
            "joined_at": m.joined_at,
        }
    )


@router.get("/api/orgs", response_model=list[OrganizationRead])
async def list_orgs(caller: CallerDep, session: SessionDep) -> list[OrganizationRead]:
    """Organizations the signed-in user belongs to, with their role."""
    user = _user(caller).user
    assert user is not None
    rows = await organizations.list_for_user(session, user.id)
    return [
        OrganizationRead.model_validate(
            {"id": o.id, "name": o.name, "created_at": o.created_at, "role": r}
        )
        for o, r in rows
    ]


@router.post("/api/orgs", status_code=status.HTTP_201_CREATED, response_model=OrganizationRead)
async def create_org(
    body: OrganizationCreate, caller: CallerDep, session: SessionDep
) -> OrganizationRead:
    """A new organization owned by the caller, with a default application."""
    user = _user(caller).user
    assert user is not None
    org, _ = await organizations.create_organization(
        session, user, name=body.name, actor=caller.actor
    )
    return OrganizationRead.model_validate(
        {"id": org.id, "name": org.name, "created_at": org.created_at, "role": "owner"}
    )


@router.get("/api/orgs/{org_id}", response_model=OrganizationRead)
async def get_org(org_id: str, caller: CallerDep, session: SessionDep) -> OrganizationRead:
    scope = await access.org_scope(session, _user(caller), org_id)
    org = await organizations.get(session, scope)
    return OrganizationRead.model_validate(
        {"id": org.id, "name": org.name, "created_at": org.created_at, "role": scope.role}
    )


@router.patch("/api/orgs/{org_id}", response_model=OrganizationRead)
async def update_org(
    org_id: str, body: OrganizationUpdate, caller: CallerDep, session: SessionDep
) -> OrganizationRead:
    scope = await access.org_scope(session, _user(caller), org_id)
    org = await organizations.rename(session, scope, body.name)
    return OrganizationRead.model_validate(
        {"id": org.id, "name": org.name, "created_at": org.created_at, "role": scope.role}
    )


@router.delete("/api/orgs/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_org(org_id: str, caller: CallerDep, session: SessionDep) -> None:
    """Delete the organization and everything in it (owners only)."""
    scope = await access.org_scope(session, _user(caller), org_id)
    await organizations.delete(session, scope)


@router.get("/api/orgs/{org_id}/members", response_model=list[MemberRead])
async def list_members(org_id: str, caller: CallerDep, session: SessionDep) -> list[MemberRead]:
    scope = await access.org_scope(session, _user(caller), org_id)
    return [_member(m) for m in await organizations.list_members(session, scope)]


@router.patch("/api/orgs/{org_id}/members/{user_id}", response_model=MemberRead)
async def change_member_role(
    org_id: str, user_id: str, body: MemberUpdate, caller: CallerDep, session: SessionDep
) -> MemberRead:
    scope = await access.org_scope(session, _user(caller), org_id)
    return _member(await organizations.change_role(session, scope, user_id, body.role))


@router.delete("/api/orgs/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(org_id: str, user_id: str, caller: CallerDep, session: SessionDep) -> None:
    """Remove a member, or leave the organization when `user_id` is yourself."""
    scope = await access.org_scope(session, _user(caller), org_id)
    await organizations.remove_member(session, scope, user_id)


@router.post("/api/orgs/{org_id}/transfer-ownership", status_code=status.HTTP_204_NO_CONTENT)
async def transfer_ownership(
    org_id: str, body: OwnershipTransfer, caller: CallerDep, session: SessionDep
) -> None:
    """Make a member an owner; the calling owner becomes an admin."""
    scope = await access.org_scope(session, _user(caller), org_id)
    await organizations.transfer_ownership(session, scope, body.user_id)


@router.get("/api/orgs/{org_id}/invitations", response_model=list[InvitationRead])
async def list_invitations(
    org_id: str, caller: CallerDep, session: SessionDep
) -> list[InvitationRead]:
    scope = await access.org_scope(session, _user(caller), org_id)
    return [
        InvitationRead.model_validate(i)
        for i in await organizations.list_invitations(session, scope)
    ]


async def _send_invitation(
    container: Container, invitation: Invitation, token: str, context: InvitationEmailContext
) -> InvitationCreated:
    """Email the invitation (after its commit); the link itself only when no email went out."""
    accept_url = link(container.settings.public_url, INVITATION_PATH, token)
    sent = await container.email.send_now(
        invitation_email(
            to=invitation.email,
            org_name=context.org_name,
            role=invitation.role,
            inviter=context.inviter_email,
            accept_url=accept_url,
            expires_at=invitation.expires_at,
        )
    )
    return InvitationCreated.model_validate(
        {
            **InvitationRead.model_validate(invitation).model_dump(),
            "email_sent": sent,
            "token": None if sent else token,
            "accept_url": None if sent else accept_url,
        }
    )


@router.post(
    "/api/orgs/{org_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
)
async def invite(
    org_id: str, body: InvitationCreate, request: Request, container: ContainerDep
) -> InvitationCreated:
    """Invite someone by email. The email holds a single-use link; when no email could be sent
    (`email_sent: false`), the answer holds the link and token instead (shown once).
    """
    # Its own transaction, committed before the email is sent: the SMTP round trip holds no
    # database lock, and no email carries a token that a rollback discarded.
    async with transaction(container.sessions) as session:
        caller = await current_caller(request, session, container)
        scope = await access.org_scope(session, _user(caller), org_id)
        invitation, token = await organizations.invite(
            session,
            scope,
            email=str(body.email),
            role=body.role,
            ttl=timedelta(seconds=container.settings.auth.invitation_ttl_seconds),
        )
        context = await invitations.email_context(session, invitation)
    return await _send_invitation(container, invitation, token, context)


@router.post(
    "/api/orgs/{org_id}/invitations/{invitation_id}/resend", response_model=InvitationCreated
)
async def resend_invitation(
    org_id: str, invitation_id: str, request: Request, container: ContainerDep
) -> InvitationCreated:
    """Send a pending invitation again with a fresh link (the previous link stops working)."""
    async with transaction(container.sessions) as session:
        caller = await current_caller(request, session, container)
        scope = await access.org_scope(session, _user(caller), org_id)
        invitation, token = await invitations.resend(
            session,
            scope,
            invitation_id,
            ttl=timedelta(seconds=container.settings.auth.invitation_ttl_seconds),
        )
        context = await invitations.email_context(session, invitation)
    return await _send_invitation(container, invitation, token, context)


@router.post("/api/invitations/accept", response_model=InvitationAccepted)
async def accept_invitation(
    body: InvitationAccept, caller: CallerDep, session: SessionDep
) -> InvitationAccepted:
    """Join the inviting organization as the signed-in user (whose email was invited).

    New users register with `invitation_token` instead (POST /api/auth/register).
    """
    user = _user(caller).user
    assert user is not None
    invitation = await invitations.accept(session, user, body.token, actor=caller.actor)
    return InvitationAccepted.model_validate({"org_id": invitation.org_id, "role": invitation.role})


@router.delete(
    "/api/orgs/{org_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_invitation(
    org_id: str, invitation_id: str, caller: CallerDep, session: SessionDep
) -> None:
    scope = await access.org_scope(session, _user(caller), org_id)
    await organizations.revoke_invitation(session, scope, invitation_id)
