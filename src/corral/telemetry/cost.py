"""Price a model call from its token counts: a vendored catalog plus per-application overrides.

Model names are matched exactly, then through a fixed normalization (lowercase, one known
provider prefix such as `openai/`, a date suffix such as `-2024-08-06`); never by similarity.
An unknown model is `Unpriced("unknown_model")`, never a guess, so the caller can count it.

Input token counts are taken to include cached tokens, as the GenAI conventions require: the
uncached part is `input - cache_read - cache_write`, and each part is billed at its own price.
A model without a cache price bills cached tokens at its input price.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Literal, NamedTuple

import orjson

from corral.telemetry.normalize import Derived

_PER_TOKENS = Decimal(1_000_000)
_ZERO = Decimal(0)
# Resolved catalog names; bounded because model strings come from untrusted spans.
_RESOLVED_CACHE_SIZE = 4096

UnpricedReason = Literal["not_model_call", "no_model", "no_usage", "unknown_model"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens; `None` cache prices fall back to the input price."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ModelPrice:
        """Build from `{"input", "output", "cache_read"?, "cache_write"?}` (numbers or strings)."""
        unknown = set(data) - {"input", "output", "cache_read", "cache_write"}
        if unknown:
            raise ValueError(f"unknown price fields: {sorted(unknown)}")
        return cls(
            input=_price(data.get("input"), "input"),
            output=_price(data.get("output"), "output"),
            cache_read=_optional_price(data.get("cache_read"), "cache_read"),
            cache_write=_optional_price(data.get("cache_write"), "cache_write"),
        )


class PriceOverrides(dict[str, ModelPrice]):
    """Overrides keyed by lowercased, stripped model name: normalized once, not per span."""

    @classmethod
    def of(cls, prices: Mapping[str, ModelPrice]) -> PriceOverrides:
        return cls({name.strip().lower(): price for name, price in prices.items()})


class Cost(NamedTuple):
    """The price of one call in USD, split by token kind (a tuple: built once per model call)."""

    total_usd: Decimal
    input_usd: Decimal
    output_usd: Decimal
    cache_read_usd: Decimal
    cache_write_usd: Decimal
    priced_as: str
    source: Literal["override", "catalog"]


class Unpriced(NamedTuple):
    """Why a call has no cost; `unknown_model` is the one worth a counter."""

    reason: UnpricedReason


KNOWN_PROVIDERS = frozenset(
    {
        "anthropic",
        "aws.bedrock",
        "azure.ai.inference",
        "azure.ai.openai",
        "cohere",
        "deepseek",
        "gcp.gemini",
        "gcp.gen_ai",
        "gcp.vertex_ai",
        "groq",
        "ibm.watsonx.ai",
        "mistral_ai",
        "openai",
        "perplexity",
        "x_ai",
    }
)
"""The GenAI semantic conventions' `gen_ai.provider.name` values: the only provider names used
as metric labels (with the catalog's own), so that free-text provider names cannot grow a
metric's series without bound."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One model of the vendored catalog, with where its price comes from."""

    model: str
    provider: str | None
    price: ModelPrice
    aliases: tuple[str, ...] = ()
    source: str | None = None
    as_of: str | None = None
    note: str | None = None


class PriceCatalog:
    """Model prices keyed by normalized model name, with aliases folded in."""

    def __init__(
        self,
        prices: Mapping[str, ModelPrice],
        strip_prefixes: tuple[str, ...],
        entries: tuple[CatalogEntry, ...] = (),
    ) -> None:
        self._prices = {name.strip().lower(): price for name, price in prices.items()}
        self._prefixes = tuple(p.lower() for p in strip_prefixes)
        self._resolved: dict[str, tuple[str, ModelPrice] | None] = {}
        self.entries = entries
        self._providers = KNOWN_PROVIDERS | {e.provider for e in entries if e.provider}

    @classmethod
    def from_json(cls, data: bytes) -> PriceCatalog:
        """Load the catalog format of the packaged `prices.json`."""
        doc = orjson.loads(data)
        prices: dict[str, ModelPrice] = {}
        entries: list[CatalogEntry] = []
        for name, entry in doc["models"].items():
            price = ModelPrice.from_mapping(
                {k: entry.get(k) for k in ("input", "output", "cache_read", "cache_write")}
            )
            aliases = tuple(entry.get("aliases", ()))
            for key in (name, *aliases):
                prices[key] = price
            entries.append(
                CatalogEntry(
                    model=name,
                    provider=entry.get("provider"),
                    price=price,
                    aliases=aliases,
                    source=entry.get("source"),
                    as_of=entry.get("as_of"),
                    note=entry.get("note"),
                )
            )
        return cls(prices, tuple(doc.get("strip_prefixes", ())), tuple(entries))

    @property
    def as_of(self) -> str | None:
        """The most recent month any entry was checked against its source."""
        return max((e.as_of for e in self.entries if e.as_of), default=None)

    def provider_label(self, provider: str | None) -> str:
        """A bounded metric label for a provider name taken from a span."""
        if not provider:
            return "none"
        return provider if provider in self._providers else "other"

    def __len__(self) -> int:
        return len(self._prices)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and model.strip().lower() in self._prices

    def candidates(self, model: str) -> Iterator[str]:
        """The names tried for `model`, in order: exact, unprefixed, undated, both."""
        name = model.strip().lower()
        yield name
        unprefixed = self._strip_prefix(name)
        if unprefixed != name:
            yield unprefixed
        undated = _strip_date(name)
        if undated != name:
            yield undated
        both = _strip_date(unprefixed)
        if both not in (name, unprefixed, undated):
            yield both

    def resolve(
        self, model: str, overrides: Mapping[str, ModelPrice] | None = None
    ) -> tuple[str, ModelPrice, Literal["override", "catalog"]] | None:
        """Find the price for `model`; overrides win over the catalog at every step."""
        if overrides:
            lowered = (
                overrides
                if isinstance(overrides, PriceOverrides)
                else {k.strip().lower(): v for k, v in overrides.items()}
            )
            for name in self.candidates(model):
                if name in lowered:
                    return name, lowered[name], "override"
        if model in self._resolved:
            found = self._resolved[model]
        else:
            found = next(
                ((n, self._prices[n]) for n in self.candidates(model) if n in self._prices), None
            )
            if len(self._resolved) >= _RESOLVED_CACHE_SIZE:
                self._resolved.clear()
            self._resolved[model] = found
        return None if found is None else (found[0], found[1], "catalog")

    def _strip_prefix(self, name: str) -> str:
        for prefix in self._prefixes:
            if name.startswith(prefix) and len(name) > len(prefix):
                return name[len(prefix) :]
        return name


@functools.cache
def default_catalog() -> PriceCatalog:
    """The catalog vendored with Corral (`corral/telemetry/prices.json`), loaded once."""
    data = resources.files("corral.telemetry").joinpath("prices.json").read_bytes()
    return PriceCatalog.from_json(data)


def compute_cost(
    model: str | None,
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    catalog: PriceCatalog,
    overrides: Mapping[str, ModelPrice] | None = None,
) -> Cost | Unpriced:
    """Price one model call."""
    if not model:
        return Unpriced("no_model")
    if input_tokens is None and output_tokens is None:
        return Unpriced("no_usage")
    match = catalog.resolve(model, overrides)
    if match is None:
        return Unpriced("unknown_model")
    name, price, source = match
    cache_read = cache_read_tokens or 0
    cache_write = cache_write_tokens or 0
    uncached = max((input_tokens or 0) - cache_read - cache_write, 0)
    read_price = price.input if price.cache_read is None else price.cache_read
    write_price = price.input if price.cache_write is None else price.cache_write
    # Exact: prices have few decimals and token counts are integers, so no rounding happens.
    input_usd = uncached * price.input / _PER_TOKENS if uncached else _ZERO
    output_usd = output_tokens * price.output / _PER_TOKENS if output_tokens else _ZERO
    cache_read_usd = cache_read * read_price / _PER_TOKENS if cache_read else _ZERO
    cache_write_usd = cache_write * write_price / _PER_TOKENS if cache_write else _ZERO
    return Cost(
        total_usd=input_usd + output_usd + cache_read_usd + cache_write_usd,
        input_usd=input_usd,
        output_usd=output_usd,
        cache_read_usd=cache_read_usd,
        cache_write_usd=cache_write_usd,
        priced_as=name,
        source=source,
    )


def cost_of(
    derived: Derived,
    catalog: PriceCatalog,
    overrides: Mapping[str, ModelPrice] | None = None,
) -> Cost | Unpriced:
    """Price a normalized span; only model calls are priced, so agent roll-ups never double."""
    if derived["category"] != "llm":
        return Unpriced("not_model_call")
    return compute_cost(
        derived["model"],
        input_tokens=derived["input_tokens"],
        output_tokens=derived["output_tokens"],
        cache_read_tokens=derived["cache_read_tokens"],
        cache_write_tokens=derived["cache_write_tokens"],
        catalog=catalog,
        overrides=overrides,
    )


def _strip_date(name: str) -> str:
    """Drop a trailing snapshot date: `-2024-08-06`, `-20240806` or `@20240806`."""
    dashed = name[-11:]
    if (
        len(name) > 11
        and dashed[0] == dashed[5] == dashed[8] == "-"
        and _is_date(dashed[1:5], dashed[6:8], dashed[9:])
    ):
        return name[:-11]
    compact = name[-9:]
    if len(name) > 9 and compact[0] in "-@" and _is_date(compact[1:5], compact[5:7], compact[7:]):
        return name[:-9]
    return name


def _is_date(year: str, month: str, day: str) -> bool:
    if not (year.isdigit() and month.isdigit() and day.isdigit()):
        return False
    return 2020 <= int(year) <= 2099 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _price(value: Any, field: str) -> Decimal:
    price = _optional_price(value, field)
    if price is None:
        raise ValueError(f"price field {field!r} is required")
    return price


def _optional_price(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"price field {field!r} must be a number")
    try:
        # Through str() so a float such as 0.1 becomes Decimal("0.1"), not its binary expansion.
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"price field {field!r} is not a number: {value!r}") from None
    if not price.is_finite() or price < _ZERO:
        raise ValueError(f"price field {field!r} must be a finite, non-negative number")
    return price
