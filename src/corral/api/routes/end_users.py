"""End-users of the current application."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from corral.api.deps import AppScopeDep, PageDep, SessionDep
from corral.api.openapi import ERRORS
from corral.core.pagination import Page
from corral.identity.models import EndUser
from corral.identity.schemas import EndUserCreate, EndUserRead, EndUserUpdate
from corral.identity.services import end_users

router = APIRouter(tags=["end-users"], responses=ERRORS)


def _read(end_user: EndUser) -> EndUserRead:
    return EndUserRead(
        id=end_user.id,
        application_id=end_user.application_id,
        external_id=end_user.external_id,
        name=end_user.name,
        email=end_user.email,
        metadata=end_user.metadata_,
        created_at=end_user.created_at,
        updated_at=end_user.updated_at,
    )


@router.get("/api/end-users", response_model=Page[EndUserRead])
async def list_end_users(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    external_id: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[EndUserRead]:
    rows, cursor = await end_users.list_page(
        session, scope, external_id=external_id, cursor=page.cursor, limit=page.limit
    )
    return Page[EndUserRead](data=[_read(e) for e in rows], next_cursor=cursor)


@router.post("/api/end-users", status_code=status.HTTP_201_CREATED, response_model=EndUserRead)
async def create_end_user(
    body: EndUserCreate, scope: AppScopeDep, session: SessionDep
) -> EndUserRead:
    end_user = await end_users.create(
        session,
        scope,
        external_id=body.external_id,
        name=body.name,
        email=str(body.email) if body.email else None,
        metadata=body.metadata,
    )
    return _read(end_user)


@router.get("/api/end-users/{end_user_id}", response_model=EndUserRead)
async def get_end_user(end_user_id: str, scope: AppScopeDep, session: SessionDep) -> EndUserRead:
    return _read(await end_users.get(session, scope, end_user_id))


@router.patch("/api/end-users/{end_user_id}", response_model=EndUserRead)
async def update_end_user(
    end_user_id: str, body: EndUserUpdate, scope: AppScopeDep, session: SessionDep
) -> EndUserRead:
    changes = body.model_dump(exclude_unset=True)
    if "email" in changes and changes["email"] is not None:
        changes["email"] = str(changes["email"])
    return _read(await end_users.update(session, scope, end_user_id, changes=changes))


@router.delete("/api/end-users/{end_user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_end_user(end_user_id: str, scope: AppScopeDep, session: SessionDep) -> None:
    await end_users.delete(session, scope, end_user_id)
