"""API shapes of per-application ingest settings and model price overrides."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    StringConstraints,
)

from corral.core.schemas import RequestBody
from corral.telemetry.redact import DEFAULT_PII_ENTITIES, MAX_KEY_PATTERN_CHARS, MAX_KEY_PATTERNS

Action = Literal["redact", "mask", "hash", "delete"]
KeyPattern = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_PATTERN_CHARS)]
DetectorName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Price = Annotated[
    Decimal,
    Field(ge=0, le=1_000_000, max_digits=20, decimal_places=10, description="USD per 1M tokens."),
]

PriceText = Annotated[
    Decimal,
    # Plain digits without trailing zeros: "2.5", "10", "0.0000001" (never "1E+1").
    PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str, when_used="json"),
]


class RedactionConfig(RequestBody):
    """Redaction at ingest; fields left out take their defaults (the object is replaced whole).

    Attribute keys in `allowlist` and `key_actions` are exact, or prefixes when they end with
    `*` (`gen_ai.prompt.*`).
    """

    enabled: bool = Field(True, description="Master switch.")
    credentials: bool = Field(True, description="Run the credential detectors.")
    pii_entities: list[DetectorName] = Field(
        default_factory=lambda: sorted(DEFAULT_PII_ENTITIES),
        max_length=64,
        description="PII detectors to run (see `GET /api/settings/ingest/detectors`).",
    )
    allowlist: list[KeyPattern] = Field(
        default_factory=list,
        max_length=MAX_KEY_PATTERNS,
        description="Attribute keys never scanned nor changed.",
    )
    key_actions: dict[KeyPattern, Action] = Field(
        default_factory=dict,
        max_length=MAX_KEY_PATTERNS,
        description="An action applied to the whole value of these attribute keys.",
    )
    actions: dict[DetectorName, Action] = Field(
        default_factory=dict,
        max_length=128,
        description="Action per detector id or kind (`credential`, `pii`).",
    )
    default_action: Action = Field("redact", description="Action of detectors not in `actions`.")
    disabled_detectors: list[DetectorName] = Field(default_factory=list, max_length=128)


class IngestSettingsUpdate(RequestBody):
    """Send only what changes. `null` puts a setting back to its server default."""

    redaction: RedactionConfig | None = None
    sampling_rate: float | None = Field(
        None, ge=0.0, le=1.0, description="Fraction of traces kept (CORRAL_SAMPLING_RATE if null)."
    )
    retention_days: int | None = Field(
        None,
        ge=0,
        le=36500,
        description="Days spans are kept; 0 keeps them forever (CORRAL_TRACE_RETENTION_DAYS if "
        "null).",
    )


class IngestSettingsRead(BaseModel):
    application_id: str
    redaction: RedactionConfig
    sampling_rate: float | None = Field(description="This application's override, if any.")
    effective_sampling_rate: float
    sampling_token_threshold: int = Field(
        description="Spans above this many tokens are always kept (server-wide)."
    )
    retention_days: int | None = Field(description="This application's override, if any.")
    effective_retention_days: int = Field(description="0: kept forever.")
    revision: int = Field(description="Grows with every change to these settings or prices.")
    updated_at: datetime | None


class DetectorRead(BaseModel):
    id: str
    kind: Literal["credential", "pii"]
    description: str
    enabled_by_default: bool


class PriceOverrideWrite(RequestBody):
    input: Price
    output: Price
    cache_read: Price | None = Field(None, description="Null: cached reads cost the input price.")
    cache_write: Price | None = Field(None, description="Null: cache writes cost the input price.")


class PriceOverrideRead(BaseModel):
    model: str
    input: PriceText
    output: PriceText
    cache_read: PriceText | None
    cache_write: PriceText | None
    created_at: datetime
    updated_at: datetime


class PriceValues(BaseModel):
    input: PriceText
    output: PriceText
    cache_read: PriceText | None
    cache_write: PriceText | None


class EffectivePriceRead(PriceValues):
    model: str
    provider: str | None
    source: Literal["override", "catalog"]
    aliases: list[str]
    catalog_source: str | None = Field(description="The pricing page the catalog entry cites.")
    as_of: str | None = Field(description="Month the catalog entry was last checked.")
    note: str | None
    catalog_price: PriceValues | None = Field(
        description="The vendored price this application's override replaces, if any."
    )
    updated_at: datetime | None = Field(description="When the override was last set.")


class PriceCatalogRead(BaseModel):
    currency: Literal["USD"] = "USD"
    unit: Literal["per_million_tokens"] = "per_million_tokens"
    catalog_as_of: str | None = Field(description="Latest month any catalog entry was checked.")
    overrides: int = Field(description="How many of the models are this application's own.")
    models: list[EffectivePriceRead]


class PriceResolutionRead(PriceValues):
    model: str = Field(description="The name asked for.")
    priced_as: str = Field(description="The catalog or override name it matched.")
    source: Literal["override", "catalog"]
