"""Model prices: the vendored catalog plus the application's overrides (`settings:*` scopes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from corral.api.deps import AppScopeDep, ContainerDep, SessionDep
from corral.api.openapi import ERRORS
from corral.telemetry.cost import ModelPrice
from corral.traces import prices
from corral.traces.models import ModelPriceOverride
from corral.traces.settings_schemas import (
    EffectivePriceRead,
    PriceCatalogRead,
    PriceOverrideRead,
    PriceOverrideWrite,
    PriceResolutionRead,
    PriceValues,
)

router = APIRouter(tags=["prices"], responses=ERRORS)

Model = Annotated[
    str,
    Path(
        min_length=1,
        max_length=prices.MAX_MODEL_CHARS,
        description="A model name as spans carry it (`gpt-4o`, `openai/gpt-4o-2024-08-06`); "
        "matched case-insensitively.",
    ),
]


def _values(price: ModelPrice) -> PriceValues:
    return PriceValues(
        input=price.input,
        output=price.output,
        cache_read=price.cache_read,
        cache_write=price.cache_write,
    )


def _override(row: ModelPriceOverride) -> PriceOverrideRead:
    return PriceOverrideRead(
        model=row.model,
        input=row.input,
        output=row.output,
        cache_read=row.cache_read,
        cache_write=row.cache_write,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get("/api/prices", response_model=PriceCatalogRead)
async def get_prices(
    scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> PriceCatalogRead:
    """The effective price list: this application's overrides, then the vendored catalog."""
    catalog = container.price_catalog
    effective = await prices.effective_catalog(session, scope, catalog)
    return PriceCatalogRead(
        catalog_as_of=catalog.as_of,
        overrides=sum(p.source == "override" for p in effective),
        models=[
            EffectivePriceRead(
                **_values(p.price).model_dump(),
                model=p.model,
                provider=p.provider,
                source=p.source,
                aliases=list(p.aliases),
                catalog_source=p.catalog_source,
                as_of=p.as_of,
                note=p.note,
                catalog_price=_values(p.catalog_price) if p.catalog_price else None,
                updated_at=p.updated_at,
            )
            for p in effective
        ],
    )


@router.get("/api/prices/{model:path}", response_model=PriceResolutionRead)
async def resolve_price(
    model: Model, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> PriceResolutionRead:
    """The price ingest applies to this model name (404 `unknown_model`: ingest leaves it null)."""
    found = await prices.resolve(session, scope, container.price_catalog, model)
    return PriceResolutionRead(
        **_values(found.price).model_dump(),
        model=found.model,
        priced_as=found.priced_as,
        source=found.source,
    )


@router.put("/api/prices/{model:path}", response_model=PriceOverrideRead)
async def set_price(
    model: Model,
    body: PriceOverrideWrite,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
) -> PriceOverrideRead:
    """Set this application's price for a model (USD per million tokens), over the catalog."""
    price = ModelPrice(body.input, body.output, body.cache_read, body.cache_write)
    row = await prices.set_override(session, scope, model, price, cache=container.ingest_config)
    return _override(row)


@router.delete("/api/prices/{model:path}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_price(
    model: Model, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> None:
    """Remove this application's price for a model; the catalog price applies again."""
    await prices.delete_override(session, scope, model, cache=container.ingest_config)
