"""The agent manifest: what an agent is, checked field by field.

A manifest names its model, tools, skills and limits and carries the JSON Schemas of its input
and output. Schemas are checked against their meta-schema here, offline (a `$ref` to a remote
document is an error, never a fetch) and with a linear-time regex engine for `pattern`, so a
stored manifest can always be used to validate a run's input and output.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import jsonschema_rs
import orjson
import semver
from pydantic import Field, field_validator, model_validator

from corral.core.schemas import RequestBody

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
# The runtime's own tools: the structured result and log lines.
RESERVED_TOOL_NAMES = frozenset({"output", "log"})
MAX_SCHEMA_BYTES = 65_536
MAX_PROMPT_CHARS = 200_000
MAX_SKILL_CHARS = 50_000
TIMEOUT_CEILING_SECONDS = 86_400
# The drafts a schema may declare, each checked against its meta-schema offline: any other
# `$schema` is refused, and jsonschema-rs's own meta-check would try to download it.
_DIALECTS: dict[str, tuple[Any, str]] = {
    "https://json-schema.org/draft/2020-12/schema": (
        jsonschema_rs.Draft202012Validator,
        "https://json-schema.org/draft/2020-12/schema",
    ),
    "https://json-schema.org/draft/2019-09/schema": (
        jsonschema_rs.Draft201909Validator,
        "https://json-schema.org/draft/2019-09/schema",
    ),
    "http://json-schema.org/draft-07/schema": (
        jsonschema_rs.Draft7Validator,
        "http://json-schema.org/draft-07/schema#",
    ),
    "http://json-schema.org/draft-06/schema": (
        jsonschema_rs.Draft6Validator,
        "http://json-schema.org/draft-06/schema#",
    ),
    "http://json-schema.org/draft-04/schema": (
        jsonschema_rs.Draft4Validator,
        "http://json-schema.org/draft-04/schema#",
    ),
}
_DEFAULT_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@functools.cache
def _meta_validator(dialect: str) -> jsonschema_rs.Validator:
    validator_class, uri = _DIALECTS[dialect]
    validator: jsonschema_rs.Validator = validator_class({"$ref": uri}, offline=True)
    return validator


def schema_validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator for a stored schema: offline, linear-time regexes, formats asserted."""
    return jsonschema_rs.validator_for(
        schema,
        offline=True,
        validate_formats=True,
        pattern_options=jsonschema_rs.RegexOptions(),
    )


def _json(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        # Integers beyond 64 bits, mostly: they would not survive storage in every database.
        raise ValueError(f"not storable as JSON: {exc}") from None


def check_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema that is valid and usable offline, or ValueError saying where it is not."""
    if len(_json(schema)) > MAX_SCHEMA_BYTES:
        raise ValueError(f"a schema is at most {MAX_SCHEMA_BYTES} bytes of JSON")
    dialect = schema.get("$schema", _DEFAULT_DIALECT)
    if not isinstance(dialect, str) or dialect.removesuffix("#") not in _DIALECTS:
        raise ValueError(
            "$schema must be one of the JSON Schema drafts 2020-12, 2019-09, 7, 6 or 4"
        )
    try:
        _meta_validator(dialect.removesuffix("#")).validate(schema)
        schema_validator(schema)
    except jsonschema_rs.ValidationError as exc:
        where = "/".join(str(part) for part in exc.instance_path)
        first_line = str(exc).split("\n", 1)[0]
        raise ValueError(f"not a valid JSON Schema at /{where}: {first_line}") from None
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ValueError(f"not a usable JSON Schema: {exc}") from None
    return schema


def parse_version(value: str) -> semver.Version:
    try:
        return semver.Version.parse(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a semantic version such as 1.0.0") from None


SchemaObject = Annotated[dict[str, Any], Field(description="A JSON Schema (draft 2020-12).")]


class ModelReference(RequestBody):
    """The model the agent calls: a provider id and model name, or scripted turns."""

    provider: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str | None = Field(None, min_length=1, max_length=200)
    turns: list[dict[str, Any]] | None = Field(
        None,
        max_length=200,
        description="`scripted` provider only: what the model answers, turn by turn "
        '(`{"tool_calls": [...]}`, `{"output": {...}}` or `{"text": "..."}`).',
    )

    @model_validator(mode="after")
    def _name_or_turns(self) -> ModelReference:
        if self.provider == "scripted":
            if not self.turns:
                raise ValueError("the scripted provider needs `turns`")
            for index, turn in enumerate(self.turns):
                kinds = set(turn) & {"tool_calls", "output", "text"}
                if len(kinds) != 1 or set(turn) - kinds:
                    raise ValueError(
                        f"turns[{index}] must hold exactly one of tool_calls, output or text"
                    )
        else:
            if self.name is None:
                raise ValueError("`name` is required for a model of a real provider")
            if self.turns is not None:
                raise ValueError("`turns` belong to the scripted provider only")
        return self


class Tool(RequestBody):
    """A tool the agent may call; `http` tools run in the sidecar with connection credentials."""

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    type: Literal["http"] = "http"
    description: str = Field("", max_length=2000)
    connection: str | None = Field(None, min_length=1, max_length=100)
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str | None = Field(None, min_length=1, max_length=2000, pattern=r"^https?://")
    parameters: SchemaObject | None = None

    _schema = field_validator("parameters")(
        lambda value: None if value is None else check_schema(value)
    )


class Skill(RequestBody):
    """Markdown instructions added to the agent's system prompt."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field("", max_length=2000)
    instructions: str = Field(min_length=1, max_length=MAX_SKILL_CHARS)


class Resources(RequestBody):
    """What one run may use; the platform's ceilings cap these."""

    memory_mb: int | None = Field(None, ge=16, le=65_536)
    cpu_seconds: int | None = Field(None, ge=1, le=TIMEOUT_CEILING_SECONDS)
    max_processes: int | None = Field(None, ge=1, le=4096)


class Manifest(RequestBody):
    """An agent package's manifest; `prompt.md` travels beside it."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique in the application.")
    version: str = Field(max_length=100, description="Semantic version; only ever goes forward.")
    description: str = Field("", max_length=2000)
    input_schema: SchemaObject = Field(default_factory=lambda: {"type": "object"})
    output_schema: SchemaObject = Field(default_factory=lambda: {"type": "object"})
    model: ModelReference
    tools: list[Tool] = Field(default_factory=list, max_length=100)
    skills: list[Skill] = Field(default_factory=list, max_length=100)
    timeout_seconds: int = Field(300, ge=1, le=TIMEOUT_CEILING_SECONDS)
    resources: Resources = Field(default_factory=Resources)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        parse_version(value)
        return value

    _schemas = field_validator("input_schema", "output_schema")(check_schema)

    @field_validator("model")
    @classmethod
    def _storable_turns(cls, value: ModelReference) -> ModelReference:
        if value.turns is not None:
            _json(value.turns)
        return value

    @field_validator("tools", "skills")
    @classmethod
    def _unique_names(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if isinstance(item, Tool) and item.name in RESERVED_TOOL_NAMES:
                raise ValueError(f"the tool name {item.name!r} is reserved for the runtime")
            if item.name in seen:
                raise ValueError(f"the name {item.name!r} appears twice")
            seen.add(item.name)
        return items


def prompt_problem(prompt: str) -> str | None:
    if len(prompt) > MAX_PROMPT_CHARS:
        return f"the prompt is at most {MAX_PROMPT_CHARS} characters"
    if "\x00" in prompt:
        return "the prompt must not contain NUL characters"
    return None


def sort_key(version: str) -> tuple[int, int, int, int, str]:
    """A key that orders versions as semver does, good enough for listing (prereleases first)."""
    parsed = parse_version(version)
    return (parsed.major, parsed.minor, parsed.patch, 0 if parsed.prerelease else 1, version)
