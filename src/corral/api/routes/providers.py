"""Model providers of the current application, beside the system's; keys are write-only."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, status

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.crypto import EncryptionKeyring
from corral.core.pagination import Page
from corral.core.settings import ProviderApi, SystemProvider
from corral.providers import service
from corral.providers.models import ApplicationProvider
from corral.providers.schemas import ProviderCreate, ProviderRead, ProviderUpdate

router = APIRouter(tags=["providers"], responses=ERRORS)

ProviderId = Annotated[str, Path(max_length=100)]
_READ_ONLY: dict[int | str, dict[str, Any]] = {
    409: problem_response("System providers cannot be changed through the API.")
}


def read_system(provider: SystemProvider) -> ProviderRead:
    return ProviderRead(
        id=provider.id,
        source="system",
        label=provider.label,
        api=provider.api,
        base_url=provider.base_url,
        models=list(provider.models),
    )


def read_provider(provider: ApplicationProvider, keyring: EncryptionKeyring) -> ProviderRead:
    return ProviderRead(
        id=provider.id,
        source="application",
        label=provider.label,
        api=cast(ProviderApi, provider.api),
        base_url=provider.base_url,
        models=provider.models,
        key_hint=provider.key_hint or None,
        key_id=keyring.kid_of(provider.key_ciphertext),
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


@router.get("/api/providers", response_model=Page[ProviderRead])
async def list_providers(
    scope: AppScopeDep, session: SessionDep, container: ContainerDep, page: PageDep
) -> Page[ProviderRead]:
    """The system providers (first page only), then the application's own, newest first."""
    rows, cursor = await service.list_page(session, scope, cursor=page.cursor, limit=page.limit)
    system = (
        [read_system(p) for p in container.settings.system_provider_keys]
        if page.cursor is None
        else []
    )
    return Page[ProviderRead](
        data=system + [read_provider(r, container.keyring) for r in rows], next_cursor=cursor
    )


@router.post("/api/providers", status_code=status.HTTP_201_CREATED, response_model=ProviderRead)
async def create_provider(
    body: ProviderCreate, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> ProviderRead:
    """Store a provider and its API key, encrypted; agents name it by the returned id."""
    provider = await service.create(
        session, scope, container.keyring, body, production=container.settings.is_production
    )
    return read_provider(provider, container.keyring)


@router.get("/api/providers/{provider_id}", response_model=ProviderRead)
async def get_provider(
    provider_id: ProviderId, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> ProviderRead:
    """One provider, system or the application's; its key is never returned."""
    scope.require("providers:read")
    system = service.find_system(container.settings.system_provider_keys, provider_id)
    if system is not None:
        return read_system(system)
    provider = await service.get(session, scope, provider_id)
    return read_provider(provider, container.keyring)


@router.patch("/api/providers/{provider_id}", response_model=ProviderRead, responses=_READ_ONLY)
async def update_provider(
    provider_id: ProviderId,
    body: ProviderUpdate,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
) -> ProviderRead:
    """Change the label, API, base URL or models, or replace the key."""
    provider = await service.update(
        session,
        scope,
        container.keyring,
        provider_id,
        body,
        system=container.settings.system_provider_keys,
        production=container.settings.is_production,
    )
    return read_provider(provider, container.keyring)


@router.delete(
    "/api/providers/{provider_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_READ_ONLY
)
async def delete_provider(
    provider_id: ProviderId, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> None:
    """Delete the provider and its key; agents naming it fail their model calls from then on."""
    await service.delete(
        session, scope, provider_id, system=container.settings.system_provider_keys
    )
