"""Organizations, members, invitations and ownership transfer."""

from __future__ import annotations

from fastapi import APIRouter, status

from corral.api.deps import CallerDep, SessionDep
from corral.api.openapi import ERRORS
from corral.core.errors import PermissionDenied
from corral.identity import access
from corral.identity.access import Caller
from corral.identity.schemas import (
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
from corral.identity.services import organizations

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


@router.post(
    "/api/orgs/{org_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
)
async def invite(
    org_id: str, body: InvitationCreate, caller: CallerDep, session: SessionDep
) -> InvitationCreated:
    """Invite someone by email; the returned token (shown once) lets them register into the org."""
    scope = await access.org_scope(session, _user(caller), org_id)
    invitation, token = await organizations.invite(
        session, scope, email=str(body.email), role=body.role
    )
    return InvitationCreated.model_validate(
        {**InvitationRead.model_validate(invitation).model_dump(), "token": token}
    )


@router.delete(
    "/api/orgs/{org_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_invitation(
    org_id: str, invitation_id: str, caller: CallerDep, session: SessionDep
) -> None:
    scope = await access.org_scope(session, _user(caller), org_id)
    await organizations.revoke_invitation(session, scope, invitation_id)
