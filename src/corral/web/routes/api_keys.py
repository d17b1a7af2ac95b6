"""API keys of the viewer's application: list, create and rotate (the key shown once), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Path, Query, Request
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.core.clock import utcnow
from corral.identity.models import ApiKey
from corral.identity.permissions import SCOPE_DESCRIPTIONS
from corral.identity.services import api_keys
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.scopes import app_scope
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

KEYS_PATH = "/api-keys"
PAGE_SIZE = 50
KeyId = Annotated[str, Path(max_length=64)]


def _state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    if key.replaced_by_id is not None:
        return "rotated"
    return "active"


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    pages: PagesDep,
    *,
    cursor: str | None,
    created: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    scope = app_scope(viewer)
    rows, following = await api_keys.list_page(session, scope, cursor=cursor, limit=PAGE_SIZE)
    now = utcnow()
    grantable = sorted(s for s in SCOPE_DESCRIPTIONS if s in scope.permissions)
    return pages.render(
        "api_keys.html",
        page_context(
            request,
            viewer,
            title="API keys",
            keys=[(key, _state(key, now)) for key in rows],
            scopes=[(s, SCOPE_DESCRIPTIONS[s]) for s in grantable],
            can_write=viewer.can("api_keys:write"),
            created=created,
            next_href=f"{KEYS_PATH}?cursor={following}" if following else None,
        ),
        status_code=status_code,
    )


@router.get(KEYS_PATH)
async def keys_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return await _list_page(request, viewer, session, pages, cursor=cursor)


@router.post(KEYS_PATH)
async def create_key(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    scopes: Annotated[list[str], Form(max_length=64)] = [],  # noqa: B006 (FastAPI copies it)
) -> Response:
    key, token = await api_keys.create(
        session, app_scope(viewer), name=name.strip(), scopes=scopes, expires_at=None
    )
    # The only time the key is in a page: this response (never stored, never cached).
    created = {"verb": "created", "name": key.name, "token": token}
    return await _list_page(request, viewer, session, pages, cursor=None, created=created)


@router.post(KEYS_PATH + "/{key_id}/rotate")
async def rotate_key(
    request: Request,
    key_id: KeyId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
) -> Response:
    key, token = await api_keys.rotate(
        session,
        app_scope(viewer),
        key_id,
        grace_seconds=container.settings.auth.api_key_rotation_grace_seconds,
    )
    created = {"verb": "rotated", "name": key.name, "token": token}
    return await _list_page(request, viewer, session, pages, cursor=None, created=created)


@router.post(KEYS_PATH + "/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: KeyId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    await api_keys.revoke(session, app_scope(viewer), key_id)
    return after_post(request, KEYS_PATH)
