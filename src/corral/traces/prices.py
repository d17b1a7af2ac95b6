"""Per-application model prices: overrides of the vendored catalog, and the effective catalog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, InvalidInput, NotFound
from corral.identity.access import AppScope
from corral.telemetry.cost import ModelPrice, PriceCatalog, PriceOverrides
from corral.traces.ingest_config import IngestConfigCache
from corral.traces.ingest_settings import bump_revision
from corral.traces.models import ModelPriceOverride

MAX_OVERRIDES = 1000
MAX_MODEL_CHARS = 200


@dataclass(frozen=True, slots=True)
class EffectivePrice:
    model: str
    provider: str | None
    price: ModelPrice
    source: Literal["override", "catalog"]
    aliases: tuple[str, ...]
    catalog_source: str | None
    as_of: str | None
    note: str | None
    catalog_price: ModelPrice | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Resolution:
    model: str
    priced_as: str
    price: ModelPrice
    source: Literal["override", "catalog"]


def model_key(model: str) -> str:
    """How a model name is stored and matched: stripped and lowercased, as the catalog does."""
    key = model.strip().lower()
    if not key or len(key) > MAX_MODEL_CHARS:
        raise InvalidInput(
            f"a model name is 1-{MAX_MODEL_CHARS} characters", code="invalid_model_name"
        )
    return key


def _price(row: ModelPriceOverride) -> ModelPrice:
    return ModelPrice(row.input, row.output, row.cache_read, row.cache_write)


async def _overrides(session: AsyncSession, scope: AppScope) -> Sequence[ModelPriceOverride]:
    rows = await session.scalars(
        select(ModelPriceOverride)
        .where(ModelPriceOverride.application_id == scope.application_id)
        .order_by(ModelPriceOverride.model)
    )
    return rows.all()


async def effective_catalog(
    session: AsyncSession, scope: AppScope, catalog: PriceCatalog
) -> list[EffectivePrice]:
    """Every priced model: the application's overrides, then the vendored entries they leave."""
    scope.require("settings:read")
    overrides = {row.model: row for row in await _overrides(session, scope)}
    entries = {entry.model: entry for entry in catalog.entries}
    prices: list[EffectivePrice] = []
    for model, row in overrides.items():
        entry = entries.get(model)
        prices.append(
            EffectivePrice(
                model=model,
                provider=entry.provider if entry else None,
                price=_price(row),
                source="override",
                aliases=entry.aliases if entry else (),
                catalog_source=entry.source if entry else None,
                as_of=entry.as_of if entry else None,
                note=entry.note if entry else None,
                catalog_price=entry.price if entry else None,
                updated_at=row.updated_at,
            )
        )
    for entry in sorted(catalog.entries, key=lambda e: e.model):
        if entry.model in overrides:
            continue
        prices.append(
            EffectivePrice(
                model=entry.model,
                provider=entry.provider,
                price=entry.price,
                source="catalog",
                aliases=entry.aliases,
                catalog_source=entry.source,
                as_of=entry.as_of,
                note=entry.note,
                catalog_price=None,
                updated_at=None,
            )
        )
    return prices


async def resolve(
    session: AsyncSession, scope: AppScope, catalog: PriceCatalog, model: str
) -> Resolution:
    """The price ingest would apply to `model`, matched as ingest matches it."""
    scope.require("settings:read")
    rows = await _overrides(session, scope)
    overrides = PriceOverrides.of({row.model: _price(row) for row in rows})
    found = catalog.resolve(model_key(model), overrides)
    if found is None:
        raise NotFound("price for this model", code="unknown_model")
    name, price, source = found
    return Resolution(model=model, priced_as=name, price=price, source=source)


async def set_override(
    session: AsyncSession,
    scope: AppScope,
    model: str,
    price: ModelPrice,
    *,
    cache: IngestConfigCache,
) -> ModelPriceOverride:
    """Create or replace the application's price for `model`."""
    scope.require("settings:write")
    key = model_key(model)
    row = await session.scalar(
        select(ModelPriceOverride).where(
            ModelPriceOverride.application_id == scope.application_id,
            ModelPriceOverride.model == key,
        )
    )
    now = utcnow()
    if row is None:
        count = await session.scalar(
            select(func.count())
            .select_from(ModelPriceOverride)
            .where(ModelPriceOverride.application_id == scope.application_id)
        )
        if (count or 0) >= MAX_OVERRIDES:
            raise Conflict(
                f"an application holds at most {MAX_OVERRIDES} price overrides",
                code="too_many_price_overrides",
            )
        row = ModelPriceOverride(
            org_id=scope.org_id,
            application_id=scope.application_id,
            model=key,
            created_at=now,
        )
        session.add(row)
    row.input, row.output = price.input, price.output
    row.cache_read, row.cache_write = price.cache_read, price.cache_write
    row.updated_at = now
    await session.flush()
    await bump_revision(session, scope, cache=cache)
    _audit(session, scope, "price_override.set", row)
    return row


async def delete_override(
    session: AsyncSession, scope: AppScope, model: str, *, cache: IngestConfigCache
) -> None:
    scope.require("settings:write")
    key = model_key(model)
    row = await session.scalar(
        select(ModelPriceOverride).where(
            ModelPriceOverride.application_id == scope.application_id,
            ModelPriceOverride.model == key,
        )
    )
    if row is None:
        raise NotFound("price override", code="price_override_not_found")
    await session.delete(row)
    await bump_revision(session, scope, cache=cache)
    _audit(session, scope, "price_override.deleted", row)


def _audit(session: AsyncSession, scope: AppScope, action: str, row: ModelPriceOverride) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="model_price_override",
        target_id=row.id,
        details={"model": row.model},
    )
