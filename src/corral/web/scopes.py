"""The scope a page acts in: the viewer's application, or their standing in its organization."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.errors import NotFound
from corral.identity import access
from corral.identity.access import AppScope, OrgScope
from corral.web.viewer import Viewer


def app_scope(viewer: Viewer) -> AppScope:
    """The viewer's application; a user without an organization has none to show."""
    if viewer.scope is None:
        raise NotFound("organization", code="no_organization")
    return viewer.scope


async def org_scope(session: AsyncSession, viewer: Viewer) -> OrgScope:
    """The viewer's role in the organization of the application the pages show."""
    return await access.org_scope(session, viewer.caller, app_scope(viewer).org_id)
