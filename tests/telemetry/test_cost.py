"""Cost: exact Decimal prices, documented name normalization, overrides first, no guessing."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

import orjson
import pytest

from corral.telemetry.cost import (
    Cost,
    ModelPrice,
    PriceCatalog,
    PriceOverrides,
    Unpriced,
    compute_cost,
    cost_of,
    default_catalog,
)
from corral.telemetry.normalize import derive

CATALOG = default_catalog()


def _cost(model: str | None, **tokens: Any) -> Cost | Unpriced:
    tokens.setdefault("input_tokens", 1_000_000)
    tokens.setdefault("output_tokens", 0)
    return compute_cost(model, catalog=CATALOG, **tokens)


def _priced(model: str, **tokens: Any) -> Cost:
    result = _cost(model, **tokens)
    assert isinstance(result, Cost), result
    return result


def test_every_catalog_entry_is_documented() -> None:
    raw = orjson.loads(resources.files("corral.telemetry").joinpath("prices.json").read_bytes())
    providers = set()
    for name, entry in raw["models"].items():
        assert name == name.lower()
        assert entry["source"].startswith("https://"), name
        assert len(entry["as_of"]) >= 7, name
        for field in ("input", "output"):
            assert isinstance(entry[field], str), (name, field)
            Decimal(entry[field])
        providers.add(entry["provider"])
    assert {"openai", "anthropic", "gcp.gemini", "mistral_ai", "groq", "together"} <= providers
    assert len(CATALOG) >= len(raw["models"])


def test_known_model_is_priced_exactly() -> None:
    cost = _priced("gpt-4o", input_tokens=1234, output_tokens=567)
    assert cost.input_usd == Decimal("0.003085")
    assert cost.output_usd == Decimal("0.00567")
    assert cost.total_usd == Decimal("0.008755")
    assert (cost.priced_as, cost.source) == ("gpt-4o", "catalog")


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku@20241022", "claude-3-5-haiku"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-latest"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("groq/llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/llama-3.3-70b-instruct-turbo"),
        (
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "meta-llama/llama-3.3-70b-instruct-turbo",
        ),
    ],
)
def test_name_normalization(model: str, priced_as: str) -> None:
    assert _priced(model).priced_as == priced_as


def test_a_dated_snapshot_with_its_own_price_matches_exactly() -> None:
    old = _priced("gpt-4o-2024-05-13", input_tokens=1_000_000)
    assert (old.priced_as, old.total_usd) == ("gpt-4o-2024-05-13", Decimal(5))


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini-foo",
        "gpt-4",
        "gpt-3.5-turbo-1106",
        "mistral-large-latest",
        "meta-llama/llama-3.3-70b-instruct",
        "azure/gpt-4o",
        "claude-3-5-sonnet-2024",
        "my-finetune",
    ],
)
def test_unknown_models_are_never_guessed(model: str) -> None:
    assert _cost(model) == Unpriced("unknown_model")


def test_cache_tokens_use_cache_prices_and_input_includes_them() -> None:
    cost = _priced(
        "claude-sonnet-4-5",
        input_tokens=1_000_000,
        output_tokens=0,
        cache_read_tokens=600_000,
        cache_write_tokens=100_000,
    )
    assert cost.input_usd == Decimal("0.9")  # 300k uncached at $3
    assert cost.cache_read_usd == Decimal("0.18")  # 600k at $0.30
    assert cost.cache_write_usd == Decimal("0.375")  # 100k at $3.75
    assert cost.total_usd == Decimal("1.455")


def test_missing_cache_price_falls_back_to_input_price() -> None:
    cost = _priced("gpt-4o", input_tokens=1000, cache_write_tokens=1000)
    assert cost.cache_write_usd == Decimal("0.0025")
    assert cost.input_usd == 0


def test_cache_larger_than_input_never_goes_negative() -> None:
    cost = _priced("gpt-4o", input_tokens=10, cache_read_tokens=100)
    assert cost.input_usd == 0
    assert cost.cache_read_usd > 0


def test_overrides_win_over_the_catalog_at_every_normalization_step() -> None:
    overrides = {"GPT-4o": ModelPrice(input=Decimal(1), output=Decimal(2))}
    cost = compute_cost(
        "openai/gpt-4o-2024-08-06",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        catalog=CATALOG,
        overrides=overrides,
    )
    assert isinstance(cost, Cost)
    assert (cost.total_usd, cost.source, cost.priced_as) == (Decimal(3), "override", "gpt-4o")


def test_override_prices_an_unknown_model() -> None:
    price = ModelPrice.from_mapping({"input": "0.5", "output": 1, "cache_read": 0.1})
    assert price.cache_read == Decimal("0.1")
    cost = compute_cost(
        "my-finetune",
        input_tokens=2_000_000,
        output_tokens=None,
        catalog=CATALOG,
        overrides={"my-finetune": price},
    )
    assert isinstance(cost, Cost)
    assert cost.total_usd == Decimal(1)


@pytest.mark.parametrize(
    "data",
    [
        {"input": 1},
        {"input": 1, "output": -1},
        {"input": 1, "output": "abc"},
        {"input": 1, "output": True},
        {"input": 1, "output": "NaN"},
        {"input": 1, "output": 1, "cached": 1},
    ],
)
def test_bad_override_prices_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="price"):
        ModelPrice.from_mapping(data)


def test_unpriced_reasons() -> None:
    assert _cost(None) == Unpriced("no_model")
    assert _cost("gpt-4o", input_tokens=None, output_tokens=None) == Unpriced("no_usage")
    assert _priced("gpt-4o", input_tokens=0, output_tokens=0).total_usd == 0


def test_cost_of_prices_only_model_calls() -> None:
    llm = derive(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.response.model": "claude-haiku-4-5-20251001",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 1000,
        },
    )
    cost = cost_of(llm, CATALOG)
    assert isinstance(cost, Cost)
    assert cost.total_usd == Decimal("0.007")
    agent_rollup = derive(
        "invoke_agent",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 2000,
        },
    )
    assert cost_of(agent_rollup, CATALOG) == Unpriced("not_model_call")


def test_catalog_from_custom_json() -> None:
    catalog = PriceCatalog.from_json(
        orjson.dumps(
            {
                "strip_prefixes": ["acme/"],
                "models": {"m1": {"input": "1", "output": "1", "aliases": ["m1-fast"]}},
            }
        )
    )
    assert "m1-fast" in catalog
    assert catalog.resolve("acme/M1") is not None
    assert list(catalog.candidates("acme/m1-2025-01-31")) == [
        "acme/m1-2025-01-31",
        "m1-2025-01-31",
        "acme/m1",
        "m1",
    ]


def test_normalized_overrides_match_like_a_plain_mapping() -> None:
    price = ModelPrice(input=Decimal(1), output=Decimal(2))
    catalog = default_catalog()
    plain = catalog.resolve("openai/GPT-4o-2024-08-06", {"GPT-4o": price})
    normalized = catalog.resolve("openai/GPT-4o-2024-08-06", PriceOverrides.of({"GPT-4o": price}))
    assert plain == normalized == ("gpt-4o", price, "override")


def test_catalog_entries_carry_their_source_and_date() -> None:
    catalog = default_catalog()
    gpt = next(e for e in catalog.entries if e.model == "gpt-4o")
    assert gpt.provider == "openai"
    assert gpt.source is not None
    assert gpt.source.startswith("https://")
    assert gpt.as_of is not None
    assert catalog.as_of == max(e.as_of for e in catalog.entries if e.as_of)
    assert len({e.model for e in catalog.entries}) == len(catalog.entries)


def test_provider_labels_are_bounded() -> None:
    catalog = default_catalog()
    assert catalog.provider_label("openai") == "openai"
    assert catalog.provider_label("together") == "together"  # a catalog provider
    assert catalog.provider_label("my-own-gateway-42") == "other"
    assert catalog.provider_label(None) == "none"
