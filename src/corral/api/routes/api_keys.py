"""API keys of the current application."""

from __future__ import annotations

from fastapi import APIRouter, status

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS
from corral.core.pagination import Page
from corral.identity.models import ApiKey
from corral.identity.permissions import SCOPE_DESCRIPTIONS
from corral.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, ScopeRead
from corral.identity.services import api_keys

router = APIRouter(tags=["api-keys"], responses=ERRORS)


def _created(key: ApiKey, token: str) -> ApiKeyCreated:
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "key": token}
    )


@router.get("/api/api-keys/scopes", response_model=list[ScopeRead])
async def list_scopes() -> list[ScopeRead]:
    """Every scope an API key can hold."""
    return [ScopeRead(scope=s, description=d) for s, d in sorted(SCOPE_DESCRIPTIONS.items())]


@router.get("/api/api-keys", response_model=Page[ApiKeyRead])
async def list_keys(scope: AppScopeDep, session: SessionDep, page: PageDep) -> Page[ApiKeyRead]:
    rows, cursor = await api_keys.list_page(session, scope, cursor=page.cursor, limit=page.limit)
    return Page[ApiKeyRead](data=[ApiKeyRead.model_validate(k) for k in rows], next_cursor=cursor)


@router.post("/api/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyCreate, scope: AppScopeDep, session: SessionDep) -> ApiKeyCreated:
    """A new key for the current application. The secret is in the response, and only there."""
    key, token = await api_keys.create(
        session, scope, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return _created(key, token)


@router.get("/api/api-keys/{key_id}", response_model=ApiKeyRead)
async def get_key(key_id: str, scope: AppScopeDep, session: SessionDep) -> ApiKeyRead:
    return ApiKeyRead.model_validate(await api_keys.get(session, scope, key_id))


@router.post(
    "/api/api-keys/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
)
async def rotate_key(
    key_id: str, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> ApiKeyCreated:
    """A successor key; the old one keeps working for the rotation grace period."""
    key, token = await api_keys.rotate(
        session, scope, key_id, grace_seconds=container.settings.auth.api_key_rotation_grace_seconds
    )
    return _created(key, token)


@router.delete("/api/api-keys/{key_id}", response_model=ApiKeyRead)
async def revoke_key(key_id: str, scope: AppScopeDep, session: SessionDep) -> ApiKeyRead:
    """Revoke a key at once."""
    return ApiKeyRead.model_validate(await api_keys.revoke(session, scope, key_id))
