"""Manifest validation: every field checked, errors name the field, schemas checked offline."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from corral.agents.manifest import Manifest, check_schema, schema_validator


def manifest(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "triage-bot",
        "version": "1.0.0",
        "model": {"provider": "openai", "name": "gpt-4o-mini"},
    }
    return {**base, **changes}


def error_locations(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        Manifest.model_validate(data)
    return [tuple(error["loc"]) for error in caught.value.errors()]


def test_a_minimal_manifest_gets_its_defaults() -> None:
    parsed = Manifest.model_validate(manifest())
    assert parsed.input_schema == {"type": "object"}
    assert parsed.tools == []
    assert parsed.timeout_seconds > 0


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"name": "Has Spaces"}, ("name",)),
        ({"version": "1.0"}, ("version",)),
        ({"version": "v1.0.0"}, ("version",)),
        ({"input_schema": {"type": "nope"}}, ("input_schema",)),
        ({"output_schema": {"$ref": "https://example.com/schema.json"}}, ("output_schema",)),
        ({"output_schema": {"$schema": "http://169.254.169.254/latest"}}, ("output_schema",)),
        ({"timeout_seconds": 0}, ("timeout_seconds",)),
        ({"model": {"provider": "openai"}}, ("model",)),
        ({"model": {"provider": "scripted"}}, ("model",)),
        ({"model": {"provider": "scripted", "turns": [{"text": "a", "output": {}}]}}, ("model",)),
        ({"tools": [{"name": "fetch", "type": "ftp"}]}, ("tools", 0, "type")),
        ({"tools": [{"name": "fetch", "url": "file:///etc/passwd"}]}, ("tools", 0, "url")),
        ({"tools": [{"name": "a"}, {"name": "a"}]}, ("tools",)),
        ({"tools": [{"name": "a", "parameters": {"type": 3}}]}, ("tools", 0, "parameters")),
        ({"skills": [{"name": "s", "instructions": ""}]}, ("skills", 0, "instructions")),
        ({"unknown": True}, ("unknown",)),
        ({"description": "nul\x00"}, ("description",)),
    ],
)
def test_each_invalid_field_is_named(changes: dict[str, Any], location: tuple[Any, ...]) -> None:
    assert location in error_locations(manifest(**changes))


def test_scripted_turns_are_accepted() -> None:
    turns = [{"tool_calls": [{"name": "fetch", "arguments": {}}]}, {"output": {"ok": True}}]
    parsed = Manifest.model_validate(manifest(model={"provider": "scripted", "turns": turns}))
    assert parsed.model.turns == turns


def test_older_drafts_are_checked_against_their_own_meta_schema() -> None:
    draft7 = "http://json-schema.org/draft-07/schema#"
    assert check_schema({"$schema": draft7, "type": "string"})["type"] == "string"
    with pytest.raises(ValueError, match="/type"):
        check_schema({"$schema": draft7, "type": "nope"})


def test_schema_patterns_use_a_linear_time_engine() -> None:
    # Catastrophic for a backtracking engine; instant for a linear-time one.
    validator = schema_validator({"type": "string", "pattern": "^(a+)+$"})
    assert not validator.is_valid("a" * 5000 + "!")


def test_lookaround_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="pattern"):
        check_schema({"type": "string", "pattern": "(?=a)"})


def test_oversized_schemas_are_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        check_schema({"enum": ["x" * 1000] * 100})


def test_numbers_beyond_64_bits_are_refused() -> None:
    assert ("input_schema",) in error_locations(manifest(input_schema={"maximum": 2**70}))
    turns = [{"output": {"n": -(2**70)}}]
    assert ("model",) in error_locations(manifest(model={"provider": "scripted", "turns": turns}))
