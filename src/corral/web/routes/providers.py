"""Model providers: the system's (from configuration, read-only) and the application's own
(create, edit, replace the key, delete).

API keys are write-only: a password field never filled in again; pages show at most the key's
last four characters, as the API does.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import Form, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.container import Container
from corral.core.errors import CorralError
from corral.core.settings import ProviderApi
from corral.providers import service
from corral.providers.models import ApplicationProvider
from corral.providers.schemas import ProviderCreate, ProviderUpdate
from corral.web.control import PAGE_SIZE, attempt, show_refusal, validation_message, when
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.scopes import app_scope
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

PROVIDERS_PATH = "/providers"
ProviderId = Annotated[str, Path(max_length=100)]
Cursor = Annotated[str | None, Query(max_length=200)]
Field = Annotated[str, Form(max_length=2000)]
Models = Annotated[str, Form(max_length=30_000)]
ApiKey = Annotated[str, Form(max_length=8192)]
APIS = get_args(ProviderApi)
_NEW = {"label": "", "api": "openai-chat", "base_url": "", "models": ""}


def _href(provider_id: str) -> str:
    return f"{PROVIDERS_PATH}/{provider_id}"


def model_lines(text: str) -> list[str]:
    """Model names one a line (or separated by commas), blanks ignored."""
    return [name.strip() for line in text.splitlines() for name in line.split(",") if name.strip()]


def _row(provider: ApplicationProvider, container: Container) -> dict[str, Any]:
    return {
        "p": provider,
        "key_id": container.keyring.kid_of(provider.key_ciphertext),
        "created": when(provider.created_at),
        "updated": when(provider.updated_at),
    }


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    container: Container,
    *,
    cursor: str | None = None,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    rows, following = await service.list_page(
        session, app_scope(viewer), cursor=cursor, limit=PAGE_SIZE
    )
    context = page_context(
        request,
        viewer,
        title="Model providers",
        system=container.settings.system_provider_keys if cursor is None else (),
        providers=[_row(p, container) for p in rows],
        can_write=viewer.can("providers:write"),
        apis=APIS,
        typed=typed or _NEW,
        next_href=f"{PROVIDERS_PATH}?cursor={following}" if following else None,
    )
    context["error"] = error
    return pages.render("providers.html", context, status_code=status_code)


@router.get(PROVIDERS_PATH)
async def providers_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
    cursor: Cursor = None,
) -> Response:
    return await _list_page(request, viewer, session, pages, container, cursor=cursor)


@router.post(PROVIDERS_PATH)
async def create_provider(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    label: Annotated[str, Form(max_length=200)] = "",
    api: Annotated[str, Form(max_length=32)] = "",
    base_url: Field = "",
    models: Models = "",
    api_key: ApiKey = "",
) -> Response:
    scope = app_scope(viewer)
    scope.require("providers:write")
    typed = {"label": label, "api": api, "base_url": base_url, "models": models}
    try:
        body = ProviderCreate.model_validate(
            {
                "label": label.strip(),
                "api": api,
                "base_url": base_url.strip(),
                "models": model_lines(models),
                "api_key": api_key,
            }
        )
    except ValidationError as exc:
        return await _list_page(
            request,
            viewer,
            session,
            pages,
            container,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    created = await attempt(
        session,
        service.create(
            session, scope, container.keyring, body, production=container.settings.is_production
        ),
    )
    if isinstance(created, CorralError):
        return await show_refusal(
            container,
            session,
            created,
            lambda fresh, code, message: _list_page(
                request,
                viewer,
                fresh,
                pages,
                container,
                status_code=code,
                error=message,
                typed=typed,
            ),
        )
    return after_post(request, _href(created.id))


async def _detail_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    container: Container,
    provider_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    scope = app_scope(viewer)
    scope.require("providers:read")
    system = service.find_system(container.settings.system_provider_keys, provider_id)
    context: dict[str, Any]
    if system is not None:
        context = page_context(
            request, viewer, title=f"Model provider {system.label or system.id}", system=system
        )
    else:
        provider = await service.get(session, scope, provider_id)
        context = page_context(
            request,
            viewer,
            title=f"Model provider {provider.label or provider.id}",
            system=None,
            row=_row(provider, container),
            can_write=viewer.can("providers:write"),
            apis=APIS,
            typed=typed
            or {
                "label": provider.label,
                "api": provider.api,
                "base_url": provider.base_url,
                "models": "\n".join(provider.models),
            },
        )
    context["error"] = error
    return pages.render("provider.html", context, status_code=status_code)


@router.get(PROVIDERS_PATH + "/{provider_id}")
async def provider_page(
    request: Request,
    provider_id: ProviderId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
) -> Response:
    return await _detail_page(request, viewer, session, pages, container, provider_id)


@router.post(PROVIDERS_PATH + "/{provider_id}")
async def update_provider(
    request: Request,
    provider_id: ProviderId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    label: Annotated[str, Form(max_length=200)] = "",
    api: Annotated[str, Form(max_length=32)] = "",
    base_url: Field = "",
    models: Models = "",
    api_key: ApiKey = "",
) -> Response:
    scope = app_scope(viewer)
    scope.require("providers:write")
    typed = {"label": label, "api": api, "base_url": base_url, "models": models}
    fields: dict[str, Any] = {
        "label": label.strip(),
        "api": api,
        "base_url": base_url.strip(),
        "models": model_lines(models),
    }
    if api_key:
        # Blank keeps the stored key.
        fields["api_key"] = api_key
    try:
        body = ProviderUpdate.model_validate(fields)
    except ValidationError as exc:
        return await _detail_page(
            request,
            viewer,
            session,
            pages,
            container,
            provider_id,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    updated = await attempt(
        session,
        service.update(
            session,
            scope,
            container.keyring,
            provider_id,
            body,
            system=container.settings.system_provider_keys,
            production=container.settings.is_production,
        ),
    )
    if isinstance(updated, CorralError):
        return await show_refusal(
            container,
            session,
            updated,
            lambda fresh, code, message: _detail_page(
                request,
                viewer,
                fresh,
                pages,
                container,
                provider_id,
                status_code=code,
                error=message,
                typed=typed,
            ),
        )
    return after_post(request, _href(provider_id))


@router.post(PROVIDERS_PATH + "/{provider_id}/delete")
async def delete_provider(
    request: Request,
    provider_id: ProviderId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
) -> Response:
    await service.delete(
        session, app_scope(viewer), provider_id, system=container.settings.system_provider_keys
    )
    return after_post(request, PROVIDERS_PATH)
