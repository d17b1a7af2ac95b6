"""applies_to patterns and the index that keeps most policies from being evaluated."""

from __future__ import annotations

import pytest

from corral_sdk.policy import Action, AppliesTo, PolicySet
from corral_sdk.policy.applies_to import pattern_problem
from tests.sdk.policies import policy, tool_call


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        ((), "tool.shell", True),
        (("*",), "chat", True),
        (("tool.shell",), "tool.shell", True),
        (("tool.shell",), "tool.shell_exec", False),
        (("tool.shell",), "tool.shell.sub", False),
        (("tool.shell",), "tool", False),
        (("tool.*",), "tool.shell", True),
        (("tool.*",), "tool.github.create_issue", True),
        (("tool.*",), "tool", False),
        (("tool.*",), "chat.tool", False),
        (("*.shell",), "tool.shell", True),
        (("*.shell",), "mcp.tool.shell", False),
        (("tool.*.delete",), "tool.db.delete", True),
        (("tool.*.delete",), "tool.db.read", False),
        (("tool.read_file", "tool.write_file"), "tool.write_file", True),
    ],
)
def test_patterns_match_whole_segments(
    patterns: tuple[str, ...], name: str, expected: bool
) -> None:
    assert AppliesTo(patterns).matches(name) is expected


@pytest.mark.parametrize("pattern", ["", " tool.shell", "tool..shell", "tool.sh*", "tool.*x"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    assert pattern_problem(pattern) is not None


def test_only_policies_that_apply_are_evaluated() -> None:
    policies = [
        policy(f"other-{index}", expression="true", applies_to=(f"tool.other{index}",))
        for index in range(40)
    ]
    policies.append(policy("shell", Action.LOG, applies_to=("tool.shell",)))
    policies.append(policy("any-tool", Action.LOG, applies_to=("tool.*",)))
    decision = PolicySet(policies).decide("tool.shell", tool_call(command="ls"))
    assert decision.evaluated == 2
    assert [hit.policy_id for hit in decision.matched] == ["any-tool", "shell"]


def test_a_call_no_policy_covers_evaluates_nothing() -> None:
    policies = PolicySet([policy("shell", applies_to=("tool.shell",))])
    decision = policies.decide("tool.read_file", {})
    assert decision.plain_allow
    assert decision.evaluated == 0


def test_candidates_keep_evaluation_order() -> None:
    policies = PolicySet(
        [
            policy("low", applies_to=("tool.*",), priority=1),
            policy("high", applies_to=("tool.shell",), priority=5),
            policy("elsewhere", applies_to=("chat",), priority=9),
        ]
    )
    assert [entry.policy.id for entry in policies.candidates("tool.shell")] == ["high", "low"]


def test_the_name_cache_is_bounded() -> None:
    policies = PolicySet([policy("p", applies_to=("tool.*",))])
    for index in range(5000):
        policies.candidates(f"tool.t{index}")
    assert len(policies._by_name) <= 4096
