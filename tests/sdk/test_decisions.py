"""The decision rules, identical on every surface that uses `PolicySet`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral_sdk.policy import Action, Decision, JsonValue, Policy, PolicySet, Posture
from tests.sdk.policies import policy, tool_call

CALL = tool_call(command="rm -rf /")


def decide(*policies: Policy, posture: Posture = Posture.ALLOW) -> Decision:
    """Decide the `rm -rf /` shell call with these policies."""
    return PolicySet(policies, default_posture=posture).decide("tool.shell", CALL)


def test_higher_priority_decides_first() -> None:
    decision = decide(policy("low", Action.ALLOW, priority=1), policy("high", priority=10))
    assert (decision.action, decision.policy_id) == (Action.BLOCK, "high")
    decision = decide(policy("low", priority=1), policy("high", Action.ALLOW, priority=10))
    assert (decision.action, decision.policy_id) == (Action.ALLOW, "high")


def test_the_first_control_decision_wins_and_stops_evaluation() -> None:
    decision = decide(
        policy("steer", Action.STEER, priority=3, config={"replacement": "use ls"}),
        policy("block", priority=2),
        policy("approve", Action.REQUIRE_APPROVAL, priority=1),
    )
    assert decision.policy_id == "steer"
    assert decision.evaluated == 1


def test_a_policy_that_does_not_match_is_passed_over() -> None:
    decision = decide(
        policy("nomatch", expression='name == "tool.other"', priority=9), policy("block")
    )
    assert decision.policy_id == "block"
    assert decision.evaluated == 2
    assert [hit.policy_id for hit in decision.matched] == ["block"]


@pytest.mark.parametrize("observer", [Action.LOG, Action.ALERT])
def test_log_and_alert_never_mask_a_lower_block(observer: Action) -> None:
    decision = decide(policy("observe", observer, priority=100), policy("block", priority=1))
    assert (decision.action, decision.policy_id) == (Action.BLOCK, "block")
    assert [hit.policy_id for hit in decision.matched] == ["observe", "block"]


def test_alerts_to_fire_are_listed_with_their_config() -> None:
    config = {"message": "shell used", "channel": "ops"}
    decision = decide(policy("alert", Action.ALERT, config=config))
    assert decision.action is Action.ALLOW
    assert [(a.policy_id, a.message, dict(a.config)) for a in decision.alerts] == [
        ("alert", "shell used", config)
    ]


def test_log_is_recorded_without_deciding() -> None:
    decision = decide(policy("log", Action.LOG))
    assert decision.action is Action.ALLOW
    assert decision.policy_id is None
    assert [hit.action for hit in decision.matched] == [Action.LOG]
    assert not decision.plain_allow


def test_allow_short_circuits_lower_blocks() -> None:
    decision = decide(policy("allow", Action.ALLOW, priority=5), policy("block", priority=1))
    assert decision.allowed
    assert decision.policy_id == "allow"
    assert decision.evaluated == 1


def test_at_equal_priority_the_stricter_action_goes_first() -> None:
    decision = decide(policy("a-allow", Action.ALLOW), policy("z-block"))
    assert decision.policy_id == "z-block"


def test_steer_returns_the_replacement() -> None:
    replacement: JsonValue = {"output": "the shell is not available; use the files tool"}
    decision = decide(
        policy("steer", Action.STEER, config={"replacement": replacement, "message": "steered"})
    )
    assert decision.action is Action.STEER
    assert decision.replacement == replacement
    assert decision.message == "steered"
    assert not decision.allowed


def test_block_message_comes_from_config_or_names_the_policy() -> None:
    assert decide(policy("b", config={"message": "no rm"})).message == "no rm"
    assert decide(policy("b")).message == "blocked by policy policy b"


def test_require_approval_carries_its_config() -> None:
    decision = decide(policy("approve", Action.REQUIRE_APPROVAL, config={"approvers_required": 2}))
    assert decision.action is Action.REQUIRE_APPROVAL
    assert decision.action_config == {"approvers_required": 2}


def test_shadow_policies_record_and_never_enforce() -> None:
    decision = decide(policy("shadow-block", priority=10, shadow=True))
    assert decision.action is Action.ALLOW
    assert [(hit.policy_id, hit.action) for hit in decision.shadow] == [
        ("shadow-block", Action.BLOCK)
    ]
    assert decision.matched == ()


def test_shadow_alerts_are_not_fired() -> None:
    decision = decide(policy("shadow-alert", Action.ALERT, shadow=True))
    assert decision.alerts == ()
    assert [hit.policy_id for hit in decision.shadow] == ["shadow-alert"]


def test_shadow_records_only_what_ran_before_the_decision() -> None:
    decision = decide(
        policy("shadow-high", shadow=True, priority=9),
        policy("block", priority=5),
        policy("shadow-low", shadow=True, priority=1),
    )
    assert [hit.policy_id for hit in decision.shadow] == ["shadow-high"]


@pytest.mark.parametrize("action", [Action.BLOCK, Action.REQUIRE_APPROVAL])
def test_an_enforcing_policy_that_errors_fails_closed(action: Action) -> None:
    decision = decide(policy("broken", action, 'attrs["corral.risk"] > 5'))
    assert decision.action is action
    assert decision.policy_id == "broken"
    assert decision.message is not None
    assert "could not be evaluated and fails closed" in decision.message
    assert "corral.risk" in decision.message
    assert decision.matched[0].failed_closed
    [failure] = decision.errors
    assert failure.failed_closed
    assert not failure.shadow


@pytest.mark.parametrize("action", [Action.STEER, Action.ALLOW, Action.LOG, Action.ALERT])
def test_a_non_enforcing_policy_that_errors_is_recorded_and_skipped(action: Action) -> None:
    config = {"replacement": "x"} if action is Action.STEER else {}
    decision = decide(
        policy("broken", action, "args.missing == 1", priority=9, config=config),
        policy("block", expression='args.command.startsWith("rm")'),
    )
    assert decision.policy_id == "block"
    [failure] = decision.errors
    assert (failure.policy_id, failure.failed_closed) == ("broken", False)
    assert decision.alerts == ()


def test_a_non_bool_result_fails_closed_for_block() -> None:
    decision = decide(policy("typo", expression="args.command"))
    assert decision.action is Action.BLOCK
    assert decision.errors[0].reason == "policy expression must return a bool, got string"


def test_a_shadow_policy_that_errors_does_not_enforce() -> None:
    decision = decide(policy("broken", expression="args.missing == 1", shadow=True))
    assert decision.action is Action.ALLOW
    assert decision.errors[0].shadow
    assert decision.shadow[0].failed_closed


def test_default_posture_deny_blocks_when_nothing_allowed() -> None:
    decision = decide(policy("log", Action.LOG), posture=Posture.DENY)
    assert decision.action is Action.BLOCK
    assert decision.by_default
    assert decision.message == "no policy allowed this call and the default posture is deny"
    assert [hit.policy_id for hit in decision.matched] == ["log"]


def test_default_posture_deny_lets_an_allow_policy_through() -> None:
    decision = decide(
        policy("allow-shell", Action.ALLOW, 'name == "tool.shell"'), posture=Posture.DENY
    )
    assert decision.allowed
    assert decision.policy_id == "allow-shell"


def test_default_posture_deny_applies_to_calls_no_policy_covers() -> None:
    policies = PolicySet([policy("p", applies_to=("tool.other",))], default_posture=Posture.DENY)
    assert policies.decide("tool.shell", CALL).action is Action.BLOCK


def test_no_policy_means_a_plain_allow() -> None:
    decision = PolicySet([]).decide("tool.shell", CALL)
    assert decision.plain_allow
    assert decision.evaluated == 0


def test_now_is_the_injected_clock() -> None:
    friday = datetime(2025, 3, 7, 20, 0, tzinfo=UTC)
    policies = PolicySet(
        [policy("after-hours", expression="now.getHours() >= 18")], clock=lambda: friday
    )
    assert policies.decide("tool.shell", CALL).action is Action.BLOCK
    morning = datetime(2025, 3, 7, 8, 0, tzinfo=UTC)
    assert policies.decide("tool.shell", CALL, now=morning).allowed


def test_expressions_see_args_name_and_attrs() -> None:
    decision = decide(
        policy(
            "all-variables",
            expression='name == "tool.shell" && attrs["gen_ai.tool.name"] == "shell" '
            '&& args.command.contains("rm -rf")',
        )
    )
    assert decision.action is Action.BLOCK


def test_literal_true_and_false_are_decided_without_evaluating() -> None:
    decision = decide(
        policy("never", expression=" false ", priority=9),
        policy("log", Action.LOG, "true", priority=5),
        policy("block", expression="true"),
    )
    assert decision.policy_id == "block"
    assert [hit.policy_id for hit in decision.matched] == ["log", "block"]
    assert decision.evaluated == 0
