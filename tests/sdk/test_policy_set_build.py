"""Building a policy set: every policy compiled once, every invalid one reported by id."""

from __future__ import annotations

import pytest

from corral_sdk.policy import (
    Action,
    JsonValue,
    Policy,
    PolicySet,
    PolicySetError,
    default_engine,
    validate_policy,
)
from tests.sdk.policies import policy


def test_a_compile_error_is_reported_with_the_policy_id_and_position() -> None:
    with pytest.raises(PolicySetError) as raised:
        PolicySet([policy("good"), policy("bad", expression='name == "x" &&\n  args.a >')])
    [problem] = raised.value.problems
    assert (problem.policy_id, problem.field, problem.line) == ("bad", "expression", 2)
    assert problem.column is not None
    assert str(raised.value).startswith("policy bad: expression at 2:")


def test_every_invalid_policy_is_reported_at_once() -> None:
    with pytest.raises(PolicySetError) as raised:
        PolicySet(
            [
                policy("a", expression="1 +"),
                policy("b", Action.THROTTLE, config={"max_calls": 0, "window_seconds": 1}),
                policy("c", Action.STEER),
                policy("d", applies_to=("tool.sh*",)),
            ]
        )
    assert [(p.policy_id, p.field) for p in raised.value.problems] == [
        ("a", "expression"),
        ("b", "action_config"),
        ("c", "action_config"),
        ("d", "applies_to"),
    ]


@pytest.mark.parametrize(
    ("action", "config", "message"),
    [
        (Action.THROTTLE, {"window_seconds": 60}, "max_calls must be an integer"),
        (Action.THROTTLE, {"max_calls": True, "window_seconds": 60}, "max_calls must be"),
        (Action.THROTTLE, {"max_calls": 5}, "window_seconds must be a number"),
        (Action.THROTTLE, {"max_calls": 5, "window_seconds": -1}, "greater than 0"),
        (Action.THROTTLE, {"max_calls": 5, "window_seconds": 1, "scope": "org"}, "scope"),
        (Action.STEER, {}, "steer needs a replacement"),
        (Action.BLOCK, {"mesage": "typo"}, "unknown keys for block: mesage"),
        (Action.BLOCK, {"message": 3}, "message must be a string"),
        (Action.REQUIRE_APPROVAL, {"approvers_required": 0}, "approvers_required"),
        (Action.REQUIRE_APPROVAL, {"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_action_config_is_validated(
    action: Action, config: dict[str, JsonValue], message: str
) -> None:
    problems = validate_policy(policy("p", action, config=config), default_engine())
    assert any(message in problem.message for problem in problems), problems


def test_alert_config_passes_extra_keys_through() -> None:
    config = {"message": "m", "channel": "ops", "severity": "high"}
    assert validate_policy(policy("p", Action.ALERT, config=config), default_engine()) == ()


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(PolicySetError, match="appears more than once"):
        PolicySet([policy("same"), policy("same", Action.LOG)])


def test_disabled_policies_are_neither_compiled_nor_evaluated() -> None:
    policies = PolicySet([policy("off", expression="1 +", enabled=False)])
    assert policies.policies == ()
    assert policies.decide("tool.shell", {}).plain_allow


def test_lenient_sets_keep_invalid_enforcing_policies_failing_closed() -> None:
    policies = PolicySet(
        [policy("bad-block", expression="1 +"), policy("bad-log", Action.LOG, "1 +", priority=5)],
        strict=False,
    )
    assert [p.policy_id for p in policies.problems] == ["bad-block", "bad-log"]
    decision = policies.decide("tool.shell", {})
    assert (decision.action, decision.policy_id) == (Action.BLOCK, "bad-block")
    assert decision.message is not None
    assert "policy is invalid" in decision.message
    assert [(e.policy_id, e.failed_closed) for e in decision.errors] == [
        ("bad-log", False),
        ("bad-block", True),
    ]
    assert decision.evaluated == 0


def test_a_lenient_throttle_without_a_valid_config_refuses() -> None:
    policies = PolicySet([policy("bad", Action.THROTTLE, config={})], strict=False)
    decision = policies.decide("tool.shell", {})
    assert decision.action is Action.THROTTLE
    assert decision.retry_after_seconds is None


def test_policies_accept_json_shapes() -> None:
    built = Policy(
        id="p",
        name="p",
        expression="true",
        action="require_approval",  # type: ignore[arg-type]
        applies_to=["tool.*"],  # type: ignore[arg-type]
    )
    assert built.action is Action.REQUIRE_APPROVAL
    assert built.applies_to == ("tool.*",)


def test_unknown_actions_and_a_single_pattern_string_are_refused() -> None:
    with pytest.raises(ValueError, match="explode"):
        Policy(id="p", name="p", expression="true", action="explode")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one string"):
        Policy(id="p", name="p", expression="true", action=Action.BLOCK, applies_to="tool.*")  # type: ignore[arg-type]


def test_the_set_lists_policies_in_evaluation_order() -> None:
    policies = PolicySet(
        [policy("b", Action.ALLOW, priority=1), policy("a", priority=1), policy("c", priority=7)]
    )
    assert [p.id for p in policies.policies] == ["c", "a", "b"]
