"""Problems reported for an invalid definition: field, position and offset, and the key."""

from __future__ import annotations

from typing import Any

import pytest

from corral.core.errors import InvalidDefinition
from corral.governance.schemas import PolicyFields
from corral.governance.validation import check, problems_of


def fields(**overrides: Any) -> PolicyFields:
    return PolicyFields.model_validate(
        {"name": "p", "expression": "true", "action": "block"} | overrides
    )


@pytest.mark.parametrize(
    ("expression", "line", "column", "rest"),
    [
        ("name ==", 1, 8, ""),
        ('"né" == name &&', 1, 16, ""),
        ("name == 'a' &&\n\n  undefined_fn(name)", 3, 15, "(name)"),
        ('name == "x" ||\n  attrs["k"] +', 2, 15, ""),
    ],
)
def test_cel_positions_are_line_column_and_character_offset(
    expression: str, line: int, column: int, rest: str
) -> None:
    [problem] = problems_of(fields(expression=expression))
    assert problem["field"] == "expression"
    assert (problem["line"], problem["column"]) == (line, column)
    assert expression[problem["offset"] :] == rest


def test_valid_definitions_have_no_problems() -> None:
    assert problems_of(fields(expression='url_host(args.url) == "a.example"')) == []
    check(fields(action="steer", action_config={"replacement": None}))


def test_check_raises_the_stable_code_with_every_problem() -> None:
    bad = fields(
        expression="name +",
        action="throttle",
        action_config={"max_calls": "many", "window_seconds": 0, "scope": "planet"},
        applies_to=["tool..x"],
    )
    with pytest.raises(InvalidDefinition) as caught:
        check(bad)
    assert caught.value.code == "policy_invalid"
    problems = caught.value.extra["problems"]
    assert {(p["field"], p.get("key")) for p in problems} == {
        ("expression", None),
        ("action_config", "max_calls"),
        ("action_config", "window_seconds"),
        ("action_config", "scope"),
        ("applies_to", None),
    }
