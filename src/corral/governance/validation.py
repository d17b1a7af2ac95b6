"""Checking a policy definition with the engine that will run it, and reporting where it fails.

The SDK's own compiler decides: a definition the server accepts is one every SDK, sidecar and
the decision API can compile. Problems name the field and, for a CEL error, the line, column
(1-based, in characters) and character offset into the expression.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from corral.core.errors import InvalidDefinition
from corral.governance.schemas import PolicyFields
from corral_sdk.policy import Action, Policy, PolicyProblem, default_engine, validate_policy

POLICY_INVALID = "policy_invalid"
DRAFT_ID = "draft"

_UNKNOWN_KEYS = re.compile(r"^unknown keys for (\w+): (.+)$")
_KEY_FIRST = re.compile(r"^(\w+) must ")


def engine_policy(fields: PolicyFields, policy_id: str = DRAFT_ID) -> Policy:
    """The engine's value for a definition."""
    return Policy(
        id=policy_id,
        name=fields.name,
        expression=fields.expression,
        action=Action(fields.action),
        action_config=fields.action_config,
        priority=fields.priority,
        applies_to=tuple(fields.applies_to),
        enabled=fields.enabled,
        shadow=fields.shadow,
    )


def _offset(expression: str, line: int, column: int) -> int:
    lines = expression.split("\n")
    before = sum(len(text) + 1 for text in lines[: max(0, line - 1)])
    return min(len(expression), before + max(0, column - 1))


def _problem_dicts(problem: PolicyProblem, expression: str) -> list[dict[str, Any]]:
    if problem.field == "expression" and problem.line is not None and problem.column is not None:
        return [
            {
                "field": "expression",
                "message": problem.message,
                "line": problem.line,
                "column": problem.column,
                "offset": _offset(expression, problem.line, problem.column),
            }
        ]
    if problem.field == "action_config":
        unknown = _UNKNOWN_KEYS.match(problem.message)
        if unknown:
            action, keys = unknown.groups()
            return [
                {"field": "action_config", "key": key, "message": f"unknown key for {action}"}
                for key in keys.split(", ")
            ]
        named = _KEY_FIRST.match(problem.message)
        key = (
            named.group(1)
            if named
            else ("replacement" if "replacement" in problem.message else None)
        )
        found: dict[str, Any] = {"field": "action_config", "message": problem.message}
        if key is not None:
            found["key"] = key
        return [found]
    return [{"field": problem.field, "message": problem.message}]


def problems_of(fields: PolicyFields) -> list[dict[str, Any]]:
    """Every problem the engine finds in this definition; empty when it is valid."""
    found = validate_policy(engine_policy(fields), default_engine())
    return [entry for problem in found for entry in _problem_dicts(problem, fields.expression)]


def refuse(problems: Sequence[dict[str, Any]], detail: str = "the policy is invalid") -> None:
    """Raise the one error every invalid definition answers with, if there are problems."""
    if problems:
        raise InvalidDefinition(detail, code=POLICY_INVALID, extra={"problems": list(problems)})


def check(fields: PolicyFields) -> None:
    """Refuse a definition the engine cannot use."""
    problems = problems_of(fields)
    if problems:
        first = problems[0]
        refuse(problems, f"{first['field']}: {first['message']}")
