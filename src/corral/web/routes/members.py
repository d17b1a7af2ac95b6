"""Members of the viewer's organization and its invitations: roles, removal, invite, resend,
revoke. The service keeps its rules (only owners touch the owner role, one owner stays)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Form, Path, Request
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.container import Container
from corral.core.db import transaction
from corral.core.errors import InvalidInput
from corral.identity.models import Invitation
from corral.identity.permissions import Role
from corral.identity.services import invitations, organizations
from corral.identity.services.invitations import InvitationEmailContext
from corral.notify.messages import INVITATION_PATH, invitation_email, link
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.scopes import org_scope
from corral.web.viewer import (
    CheckedViewerDep,
    Viewer,
    ViewerDep,
    checked_viewer,
    current_viewer,
    reading,
)

router = page_router()

MEMBERS_PATH = "/members"
UserId = Annotated[str, Path(max_length=64)]
InvitationId = Annotated[str, Path(max_length=64)]
RoleField = Annotated[str, Form(max_length=16)]
_EMAIL = TypeAdapter(EmailStr)


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError as exc:
        raise InvalidInput("choose one of the roles", code="invalid_role") from exc


async def _page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    sent: dict[str, Any] | None = None,
) -> Response:
    scope = await org_scope(session, viewer)
    members = await organizations.list_members(session, scope)
    may_read_invitations = "invitations:read" in scope.permissions
    pending = await organizations.list_invitations(session, scope) if may_read_invitations else []
    # Only owners may grant the owner role; the service refuses it anyway.
    roles = [r.value for r in Role if r != Role.OWNER or scope.role == Role.OWNER.value]
    return pages.render(
        "members.html",
        page_context(
            request,
            viewer,
            title="Members",
            members=members,
            invitations=pending,
            show_invitations=may_read_invitations,
            roles=roles,
            my_role=scope.role,
            my_id=viewer.user.id,
            can_manage="members:write" in scope.permissions,
            can_invite="invitations:write" in scope.permissions,
            sent=sent,
        ),
    )


@router.get(MEMBERS_PATH)
async def members_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _page(request, viewer, session, pages)


@router.post(MEMBERS_PATH + "/{user_id}/role")
async def change_role(
    request: Request,
    user_id: UserId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    role: RoleField = "",
) -> Response:
    scope = await org_scope(session, viewer)
    await organizations.change_role(session, scope, user_id, _role(role))
    return after_post(request, MEMBERS_PATH)


@router.post(MEMBERS_PATH + "/{user_id}/remove")
async def remove_member(
    request: Request, user_id: UserId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    scope = await org_scope(session, viewer)
    await organizations.remove_member(session, scope, user_id)
    return after_post(request, "/" if user_id == viewer.user.id else MEMBERS_PATH)


async def _send(
    container: Container, invitation: Invitation, token: str, context: InvitationEmailContext
) -> dict[str, Any]:
    """Email the invitation after its commit; the link goes in the page only when no email
    went out (shown in this response, never again)."""
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
    return {
        "email": invitation.email,
        "email_sent": sent,
        "accept_url": None if sent else accept_url,
    }


async def _invited_page(
    request: Request, container: Container, pages: PagesDep, sent: dict[str, Any]
) -> Response:
    async with reading(container) as session:
        viewer = await current_viewer(request, session, container)
        return await _page(request, viewer, session, pages, sent=sent)


@router.post(MEMBERS_PATH + "/invitations")
async def invite(
    request: Request,
    pages: PagesDep,
    container: ContainerDep,
    email: Annotated[str, Form(max_length=320)] = "",
    role: RoleField = "",
) -> Response:
    # Its own transaction, committed before the email goes out (no lock held over SMTP).
    async with transaction(container.sessions) as session:
        viewer = await checked_viewer(request, await current_viewer(request, session, container))
        scope = await org_scope(session, viewer)
        try:
            address = _EMAIL.validate_python(email.strip())
        except ValidationError as exc:
            raise InvalidInput("enter an email address", code="invalid_email") from exc
        invitation, token = await organizations.invite(
            session,
            scope,
            email=address,
            role=_role(role),
            ttl=timedelta(seconds=container.settings.auth.invitation_ttl_seconds),
        )
        context = await invitations.email_context(session, invitation)
    sent = await _send(container, invitation, token, context)
    return await _invited_page(request, container, pages, sent)


@router.post(MEMBERS_PATH + "/invitations/{invitation_id}/resend")
async def resend_invitation(
    request: Request, invitation_id: InvitationId, pages: PagesDep, container: ContainerDep
) -> Response:
    async with transaction(container.sessions) as session:
        viewer = await checked_viewer(request, await current_viewer(request, session, container))
        scope = await org_scope(session, viewer)
        invitation, token = await invitations.resend(
            session,
            scope,
            invitation_id,
            ttl=timedelta(seconds=container.settings.auth.invitation_ttl_seconds),
        )
        context = await invitations.email_context(session, invitation)
    sent = await _send(container, invitation, token, context)
    return await _invited_page(request, container, pages, sent)


@router.post(MEMBERS_PATH + "/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request, invitation_id: InvitationId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    scope = await org_scope(session, viewer)
    await organizations.revoke_invitation(session, scope, invitation_id)
    return after_post(request, MEMBERS_PATH)
