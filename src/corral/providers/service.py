"""An application's model providers: create, read, change, delete; system providers beside them.

Keys are sealed with the active encryption key before they reach the session and are never read
back here; responses show at most the key's last characters. System providers (from
CORRAL_SYSTEM_PROVIDER_KEYS) are listed to every application and cannot be changed through the
API. Every change writes an audit event without the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import EncryptionKeyring
from corral.core.errors import Conflict, InvalidInput, NotFound
from corral.core.ids import is_well_formed, new_id
from corral.core.pagination import paginate
from corral.core.settings import SystemProvider
from corral.identity.access import AppScope
from corral.providers import keys
from corral.providers.base_urls import check_base_url
from corral.providers.models import ApplicationProvider
from corral.providers.schemas import ProviderCreate, ProviderUpdate

ID_PREFIX = "prov"


def provider_not_found() -> NotFound:
    return NotFound("provider", code="provider_not_found")


def _base_url(url: str, *, production: bool) -> str:
    try:
        return check_base_url(url, production=production)
    except ValueError as exc:
        raise InvalidInput(f"base_url {exc}", code="invalid_base_url") from None


def _audit(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    provider: ApplicationProvider,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="model_provider",
        target_id=provider.id,
        details={"label": provider.label, "api": provider.api, **(details or {})},
    )


def _refuse_system(system: Sequence[SystemProvider], provider_id: str) -> None:
    if any(p.id == provider_id for p in system):
        raise Conflict(
            "system providers are set by CORRAL_SYSTEM_PROVIDER_KEYS and read-only here",
            code="provider_read_only",
        )


async def create(
    session: AsyncSession,
    scope: AppScope,
    keyring: EncryptionKeyring,
    body: ProviderCreate,
    *,
    production: bool,
) -> ApplicationProvider:
    scope.require("providers:write")
    provider = ApplicationProvider(
        id=new_id(ID_PREFIX),
        org_id=scope.org_id,
        application_id=scope.application_id,
        label=body.label,
        api=body.api,
        base_url=_base_url(body.base_url, production=production),
        models=body.models,
    )
    keys.seal(keyring, provider, body.api_key.get_secret_value())
    session.add(provider)
    await session.flush()
    _audit(session, scope, "provider.created", provider, {"base_url": provider.base_url})
    return provider


def find_system(system: Sequence[SystemProvider], provider_id: str) -> SystemProvider | None:
    return next((p for p in system if p.id == provider_id), None)


async def get(
    session: AsyncSession, scope: AppScope, provider_id: str, *, for_update: bool = False
) -> ApplicationProvider:
    scope.require("providers:read")
    if not is_well_formed(provider_id, ID_PREFIX):
        raise provider_not_found()
    query = select(ApplicationProvider).where(
        ApplicationProvider.id == provider_id,
        ApplicationProvider.application_id == scope.application_id,
    )
    if for_update:
        query = query.with_for_update()
    provider: ApplicationProvider | None = await session.scalar(query)
    if provider is None:
        raise provider_not_found()
    return provider


async def list_page(
    session: AsyncSession, scope: AppScope, *, cursor: str | None, limit: int
) -> tuple[Sequence[ApplicationProvider], str | None]:
    scope.require("providers:read")
    query = select(ApplicationProvider).where(
        ApplicationProvider.application_id == scope.application_id
    )
    return await paginate(session, query, ApplicationProvider.id, cursor=cursor, limit=limit)


async def update(
    session: AsyncSession,
    scope: AppScope,
    keyring: EncryptionKeyring,
    provider_id: str,
    body: ProviderUpdate,
    *,
    system: Sequence[SystemProvider],
    production: bool,
) -> ApplicationProvider:
    scope.require("providers:write")
    _refuse_system(system, provider_id)
    provider = await get(session, scope, provider_id, for_update=True)
    changed = sorted(body.model_fields_set)
    if body.label is not None:
        provider.label = body.label
    if body.api is not None:
        provider.api = body.api
    if body.base_url is not None:
        provider.base_url = _base_url(body.base_url, production=production)
    if body.models is not None:
        provider.models = body.models
    if body.api_key is not None:
        keys.seal(keyring, provider, body.api_key.get_secret_value())
    provider.updated_at = utcnow()
    _audit(session, scope, "provider.updated", provider, {"changed": changed})
    return provider


async def delete(
    session: AsyncSession, scope: AppScope, provider_id: str, *, system: Sequence[SystemProvider]
) -> None:
    scope.require("providers:write")
    _refuse_system(system, provider_id)
    provider = await get(session, scope, provider_id, for_update=True)
    _audit(session, scope, "provider.deleted", provider)
    await session.delete(provider)
