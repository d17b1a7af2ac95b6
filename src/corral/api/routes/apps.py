"""Applications: list, create, read, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from corral.api.deps import CallerDep, SessionDep
from corral.api.openapi import ERRORS
from corral.identity import access
from corral.identity.access import AppScope, Caller
from corral.identity.schemas import ApplicationCreate, ApplicationRead, ApplicationUpdate
from corral.identity.services import applications

router = APIRouter(tags=["applications"], responses=ERRORS)


async def _scope(session: SessionDep, caller: Caller, app_id: str) -> AppScope:
    return await access.app_scope(
        session, caller, application_id=app_id, org_id=None, end_user_id=None
    )


@router.get("/api/apps", response_model=list[ApplicationRead])
async def list_apps(
    caller: CallerDep,
    session: SessionDep,
    org_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[ApplicationRead]:
    """Applications visible to the caller (an API key sees its own)."""
    apps = await applications.list_visible(session, caller, org_id=org_id)
    return [ApplicationRead.model_validate(a) for a in apps]


@router.post("/api/apps", status_code=status.HTTP_201_CREATED, response_model=ApplicationRead)
async def create_app_(
    body: ApplicationCreate, caller: CallerDep, session: SessionDep
) -> ApplicationRead:
    """A new application in `org_id` (default: the caller's first organization)."""
    org_id = body.org_id
    if org_id is None:
        org_id = (
            await access.app_scope(
                session, caller, application_id=None, org_id=None, end_user_id=None
            )
        ).org_id
    scope = await access.org_scope(session, caller, org_id)
    app = await applications.create(session, scope, name=body.name, description=body.description)
    return ApplicationRead.model_validate(app)


@router.get("/api/apps/{app_id}", response_model=ApplicationRead)
async def get_app(app_id: str, caller: CallerDep, session: SessionDep) -> ApplicationRead:
    return ApplicationRead.model_validate(
        await applications.get(session, await _scope(session, caller, app_id))
    )


@router.patch("/api/apps/{app_id}", response_model=ApplicationRead)
async def update_app(
    app_id: str, body: ApplicationUpdate, caller: CallerDep, session: SessionDep
) -> ApplicationRead:
    scope = await _scope(session, caller, app_id)
    app = await applications.update(session, scope, name=body.name, description=body.description)
    return ApplicationRead.model_validate(app)


@router.delete("/api/apps/{app_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_app(app_id: str, caller: CallerDep, session: SessionDep) -> None:
    """Delete an application and everything it owns (not the default one)."""
    await applications.delete(session, await _scope(session, caller, app_id))
