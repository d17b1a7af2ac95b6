"""The policy editor's form: what was typed, read into a definition, and every problem with it.

A form has no JSON body, so `action_config` is typed as JSON text and `applies_to` as one
pattern a line; both, and the priority, are read here before the schema and then the engine
check what they would for the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from corral.governance.models import PolicyRecord
from corral.governance.schemas import PolicyFields
from corral.governance.templates import PolicyTemplate
from corral.governance.validation import problems_of

TYPED_FIELDS = (
    "name",
    "description",
    "expression",
    "action",
    "action_config",
    "priority",
    "applies_to",
    "enabled",
    "shadow",
)
# While only the condition is being typed, a missing name is not what the check is about.
_PLACEHOLDER_NAME = "draft"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        if self.line is None or self.column is None:
            return self.field.replace("_", " ")
        return f"line {self.line}, column {self.column}"


@dataclass(frozen=True, slots=True)
class Draft:
    """A typed form and, when the schema accepts it, the definition it describes."""

    typed: dict[str, str]
    fields: PolicyFields | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.fields is not None and not self.problems

    def problems_of(self, name: str) -> list[Problem]:
        return [p for p in self.problems if p.field == name]


def blank() -> dict[str, str]:
    return {
        "name": "",
        "description": "",
        "expression": "",
        "action": "block",
        "action_config": "{}",
        "priority": "0",
        "applies_to": "",
        "enabled": "on",
        "shadow": "",
    }


def _config_text(config: Any) -> str:
    return orjson.dumps(config, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def typed_from_record(record: PolicyRecord) -> dict[str, str]:
    return {
        "name": record.name,
        "description": record.description,
        "expression": record.expression,
        "action": record.action,
        "action_config": _config_text(record.action_config),
        "priority": str(record.priority),
        "applies_to": "\n".join(record.applies_to),
        "enabled": "on" if record.enabled else "",
        "shadow": "on" if record.shadow else "",
    }


def typed_from_template(template: PolicyTemplate) -> dict[str, str]:
    return {
        "name": template.name,
        "description": template.description,
        "expression": template.expression,
        "action": template.action.value,
        "action_config": _config_text(dict(template.action_config)),
        "priority": str(template.priority),
        "applies_to": "\n".join(template.applies_to),
        "enabled": "on",
        "shadow": "",
    }


def _schema_problems(exc: ValidationError) -> list[Problem]:
    found = []
    for error in exc.errors():
        where = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append(Problem(where[0] if where else "policy", message))
    return found


def read(typed: dict[str, str], *, placeholder_name: bool = False) -> Draft:
    """The definition the form describes, checked by the schema and then by the engine."""
    problems: list[Problem] = []
    config: Any = {}
    config_text = typed["action_config"].strip()
    if config_text:
        try:
            config = orjson.loads(config_text)
        except orjson.JSONDecodeError as exc:
            problems.append(Problem("action_config", f"is not JSON: {exc}"))
        else:
            if not isinstance(config, dict):
                problems.append(Problem("action_config", "must be a JSON object"))
                config = {}
    priority: Any = typed["priority"].strip() or "0"
    try:
        priority = int(priority)
    except ValueError:
        problems.append(Problem("priority", "must be a whole number"))
        priority = 0
    name = typed["name"].strip()
    values = {
        "name": name or (_PLACEHOLDER_NAME if placeholder_name else ""),
        "description": typed["description"].strip(),
        "expression": typed["expression"],
        "action": typed["action"],
        "action_config": config,
        "priority": priority,
        "applies_to": [p.strip() for p in typed["applies_to"].splitlines() if p.strip()],
        "enabled": bool(typed["enabled"]),
        "shadow": bool(typed["shadow"]),
    }
    try:
        fields = PolicyFields.model_validate(values)
    except ValidationError as exc:
        return Draft(typed, None, problems + _schema_problems(exc))
    for found in problems_of(fields):
        problems.append(
            Problem(
                found["field"],
                f"{found['key']}: {found['message']}" if "key" in found else found["message"],
                found.get("line"),
                found.get("column"),
            )
        )
    return Draft(typed, fields, problems)
