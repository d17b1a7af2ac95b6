"""The policy template catalog: vetted starting points, each mapped to OWASP agentic risks.

The catalog is data (`templates.yaml`, beside this module), read and checked once at import.
Each template carries example calls it must match and calls it must not; the test suite runs
them through `PolicySet.decide` on the default engine and on the reference engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import yaml

from corral.core.errors import NotFound
from corral_sdk.policy import Action, JsonValue, Policy
from corral_sdk.policy.values import TOOL_ARGS_ATTR, TOOL_NAME_ATTR

# The OWASP Top 10 for Agentic Applications, version 2026 (OWASP GenAI Security Project,
# December 2025): the ids templates cite, and their titles.
OWASP_AGENTIC_TOP10: Mapping[str, str] = {
    "ASI01": "Agent Goal Hijack",
    "ASI02": "Tool Misuse and Exploitation",
    "ASI03": "Identity and Privilege Abuse",
    "ASI04": "Agentic Supply Chain Vulnerabilities",
    "ASI05": "Unexpected Code Execution",
    "ASI06": "Memory and Context Poisoning",
    "ASI07": "Insecure Inter-Agent Communication",
    "ASI08": "Cascading Failures",
    "ASI09": "Human-Agent Trust Exploitation",
    "ASI10": "Rogue Agents",
}

# When an example names no time: a Wednesday afternoon, inside any business-hours window.
DEFAULT_EXAMPLE_TIME = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)

_TEMPLATE_KEYS = frozenset(
    {
        "id",
        "name",
        "description",
        "category",
        "owasp",
        "action",
        "action_config",
        "priority",
        "applies_to",
        "expression",
        "examples",
    }
)
_EXAMPLE_KEYS = frozenset({"name", "args", "attrs", "at"})


@dataclass(frozen=True, slots=True)
class TemplateExample:
    """A call a template is checked against: its name, flat attributes and decision time."""

    name: str
    attrs: Mapping[str, JsonValue]
    at: datetime = DEFAULT_EXAMPLE_TIME


@dataclass(frozen=True, slots=True)
class TemplateExamples:
    """Calls the template's policy must match, and calls it must leave alone."""

    matching: tuple[TemplateExample, ...]
    not_matching: tuple[TemplateExample, ...]


@dataclass(frozen=True, slots=True)
class PolicyTemplate:
    """A policy to start from; `as_policy` makes one with an id of the caller's choosing."""

    id: str
    name: str
    description: str
    owasp: tuple[str, ...]
    category: str
    expression: str
    action: Action
    action_config: Mapping[str, JsonValue]
    applies_to: tuple[str, ...]
    priority: int
    examples: TemplateExamples

    def as_policy(
        self,
        policy_id: str,
        *,
        name: str | None = None,
        enabled: bool = True,
        shadow: bool = False,
    ) -> Policy:
        """The template as a policy (a copy of its config, so the catalog stays unchanged)."""
        return Policy(
            id=policy_id,
            name=name if name is not None else self.name,
            expression=self.expression,
            action=self.action,
            action_config=json.loads(json.dumps(self.action_config)),
            priority=self.priority,
            applies_to=self.applies_to,
            enabled=enabled,
            shadow=shadow,
        )


class TemplateCatalogError(ValueError):
    """The vendored catalog is malformed: a defect in Corral, caught by its tests."""


def get_template(template_id: str) -> PolicyTemplate:
    """The template with this id; `NotFound` when there is none."""
    found = _BY_ID.get(template_id)
    if found is None:
        raise NotFound(f"policy template {template_id!r}", code="policy_template_not_found")
    return found


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise TemplateCatalogError(f"{where}: {message}")


def _strings(value: object, where: str, field: str) -> tuple[str, ...]:
    _require(
        isinstance(value, list) and all(isinstance(item, str) for item in value),
        where,
        f"{field} must be a list of strings",
    )
    assert isinstance(value, list)
    return tuple(value)


def _example(raw: object, where: str) -> TemplateExample:
    _require(isinstance(raw, dict), where, "an example must be a mapping")
    assert isinstance(raw, dict)
    unknown = set(raw) - _EXAMPLE_KEYS
    _require(not unknown, where, f"unknown example keys {sorted(unknown)}")
    name = raw.get("name")
    _require(isinstance(name, str) and bool(name), where, "an example needs a name")
    assert isinstance(name, str)
    attrs: dict[str, JsonValue] = dict(raw.get("attrs") or {})
    if "args" in raw:
        attrs[TOOL_ARGS_ATTR] = json.dumps(raw["args"])
    if name.startswith("tool.") and TOOL_NAME_ATTR not in attrs:
        attrs[TOOL_NAME_ATTR] = name.removeprefix("tool.")
    at = raw.get("at", DEFAULT_EXAMPLE_TIME)
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    _require(isinstance(at, datetime) and at.tzinfo is not None, where, "at needs a time zone")
    return TemplateExample(name, attrs, at)


def _examples(raw: object, where: str) -> TemplateExamples:
    _require(isinstance(raw, dict) and set(raw) == {"match", "no_match"}, where, "examples")
    assert isinstance(raw, dict)
    matching, not_matching = raw["match"], raw["no_match"]
    _require(isinstance(matching, list) and bool(matching), where, "needs match examples")
    _require(isinstance(not_matching, list) and bool(not_matching), where, "needs no_match")
    return TemplateExamples(
        tuple(_example(item, f"{where} match") for item in matching),
        tuple(_example(item, f"{where} no_match") for item in not_matching),
    )


def _template(raw: object) -> PolicyTemplate:
    _require(isinstance(raw, dict), "catalog", "each template must be a mapping")
    assert isinstance(raw, dict)
    where = f"template {raw.get('id')!r}"
    _require(set(raw) == _TEMPLATE_KEYS, where, f"keys must be exactly {sorted(_TEMPLATE_KEYS)}")
    for field in ("id", "name", "description", "category", "expression"):
        _require(isinstance(raw[field], str) and bool(raw[field]), where, f"{field} is required")
    owasp = _strings(raw["owasp"], where, "owasp")
    unknown = [risk for risk in owasp if risk not in OWASP_AGENTIC_TOP10]
    _require(not unknown, where, f"unknown OWASP ids {unknown}")
    priority = raw["priority"]
    _require(type(priority) is int, where, "priority must be an integer")
    config = raw["action_config"]
    _require(isinstance(config, dict), where, "action_config must be a mapping")
    try:
        action = Action(raw["action"])
    except ValueError:
        raise TemplateCatalogError(f"{where}: unknown action {raw['action']!r}") from None
    return PolicyTemplate(
        id=raw["id"],
        name=raw["name"],
        description=raw["description"],
        owasp=owasp,
        category=raw["category"],
        expression=raw["expression"],
        action=action,
        action_config=config,
        applies_to=_strings(raw["applies_to"], where, "applies_to"),
        priority=priority,
        examples=_examples(raw["examples"], where),
    )


def load_catalog(text: str) -> tuple[PolicyTemplate, ...]:
    """Parse and check a catalog document (the vendored one, or another in tests)."""
    document: Any = yaml.safe_load(text)
    _require(
        isinstance(document, dict) and isinstance(document.get("templates"), list),
        "catalog",
        "must be a mapping with a list of templates",
    )
    templates = tuple(_template(raw) for raw in document["templates"])
    ids = [template.id for template in templates]
    duplicates = sorted({template_id for template_id in ids if ids.count(template_id) > 1})
    _require(not duplicates, "catalog", f"duplicate template ids {duplicates}")
    return templates


def _vendored() -> tuple[PolicyTemplate, ...]:
    text = resources.files("corral.governance").joinpath("templates.yaml").read_text("utf-8")
    return load_catalog(text)


TEMPLATES: tuple[PolicyTemplate, ...] = _vendored()
_BY_ID: Mapping[str, PolicyTemplate] = {template.id: template for template in TEMPLATES}


def templates_for(owasp_id: str) -> Sequence[PolicyTemplate]:
    """The templates that cite one OWASP risk id, in catalog order."""
    return [template for template in TEMPLATES if owasp_id in template.owasp]
