"""Simulation: recorded calls replayed through policies at the time they were made."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from corral.governance.simulate import SimulatedCall, simulate
from corral_sdk.policy import Action, Posture
from tests.sdk.engines import engine
from tests.sdk.policies import policy

START = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)  # a Wednesday


def call(
    index: int,
    name: str = "tool.shell",
    *,
    at: datetime | None = None,
    agent: str | None = "agt_1",
    **args: object,
) -> SimulatedCall:
    return SimulatedCall(
        span_id=f"span{index}",
        trace_id="trace1",
        call_name=name,
        attributes={
            "gen_ai.tool.name": name.removeprefix("tool."),
            "corral.tool.args": json.dumps(args),
        },
        start_time=at if at is not None else START + timedelta(seconds=index),
        agent=agent,
        end_user=None,
    )


def test_counts_rates_and_samples() -> None:
    policies = [
        policy("block-rm", expression='args.command.contains("rm")', applies_to=("tool.shell",)),
        policy("log-shell", Action.LOG, "true", applies_to=("tool.shell",), priority=5),
        policy(
            "shadow-ls",
            expression='args.command == "ls"',
            shadow=True,
            priority=9,
            applies_to=("tool.shell",),
        ),
    ]
    calls = [
        call(0, command="rm -rf /"),
        call(1, command="ls"),
        call(2, "tool.search", query="x"),
        call(3, command="rm x"),
    ]
    result = simulate(policies, calls, default_posture=Posture.ALLOW, sample_limit=2)
    assert (result.total, result.matched, result.errored) == (4, 3, 0)
    assert result.match_rate == 0.75
    assert result.by_action == {"block": 2, "allow": 2}
    assert result.by_policy == {"block-rm": 2, "log-shell": 3, "shadow-ls": 1}
    assert [sample.call.span_id for sample in result.samples] == ["span0", "span1"]
    first = result.samples[0].decision
    assert (first.action, first.policy_id, first.matched_policy_ids) == (
        "block",
        "block-rm",
        ("log-shell", "block-rm"),
    )
    assert result.samples[1].decision.shadow_policy_ids == ("shadow-ls",)
    assert not result.truncated
    assert result.problems == ()


def test_default_posture_deny_blocks_what_nothing_allowed() -> None:
    result = simulate(
        [policy("allow-search", Action.ALLOW, 'name == "tool.search"')],
        [call(0, "tool.search"), call(1, "tool.shell")],
        default_posture="deny",
    )
    assert result.by_action == {"allow": 1, "block": 1}
    assert result.matched == 1
    assert result.samples[0].decision.policy_id == "allow-search"


def test_now_is_the_time_of_each_call() -> None:
    night = datetime(2025, 3, 5, 23, 30, tzinfo=UTC)
    result = simulate(
        [policy("night", expression="now.getHours() >= 22")],
        [call(0, at=night), call(1, at=START), call(2, at=night.replace(tzinfo=None))],
        default_posture=Posture.ALLOW,
    )
    assert result.by_action == {"block": 2, "allow": 1}
    assert sorted(s.call.span_id for s in result.samples) == ["span0", "span2"]


def test_throttles_replay_on_the_recorded_clock_in_time_order() -> None:
    throttle = policy(
        "two-a-minute",
        Action.THROTTLE,
        "true",
        config={"max_calls": 2, "window_seconds": 60, "scope": "agent"},
    )
    calls = [
        call(3, at=START + timedelta(seconds=120)),  # refilled by then
        call(0, at=START),
        call(2, at=START + timedelta(seconds=2)),  # third within the minute: throttled
        call(1, at=START + timedelta(seconds=1)),
        call(4, at=START + timedelta(seconds=3), agent="agt_2"),  # another agent's bucket
    ]
    result = simulate([throttle], calls, default_posture=Posture.ALLOW)
    assert result.by_action == {"allow": 4, "throttle": 1}
    throttled = [s for s in result.samples if s.decision.action == "throttle"]
    assert [s.call.span_id for s in throttled] == ["span2"]
    assert result.by_policy == {"two-a-minute": 5}


def test_a_bad_policy_is_reported_and_behaves_as_in_production() -> None:
    result = simulate(
        [
            policy("broken", expression="name +", priority=1),
            policy("missing-key", Action.LOG, "args.nope == 1"),
        ],
        [call(0, command="ls"), call(1, "chat")],
        default_posture=Posture.ALLOW,
    )
    assert [problem.policy_id for problem in result.problems] == ["broken"]
    assert result.by_action == {"block": 2}
    assert result.errored == 2
    assert {(e.call.span_id, e.policy_id) for e in result.error_samples} == {
        ("span0", "broken"),
        ("span1", "broken"),
    }
    assert "fails closed" in (result.samples[0].decision.message or "")


def test_errors_of_observers_are_sampled_with_their_reason() -> None:
    result = simulate(
        [policy("missing-key", Action.LOG, "args.nope == 1")],
        [call(0, command="ls")],
        default_posture=Posture.ALLOW,
    )
    assert (result.matched, result.errored, result.by_action) == (0, 1, {"allow": 1})
    assert result.error_samples[0].policy_id == "missing-key"
    assert "nope" in result.error_samples[0].reason


def test_work_is_bounded() -> None:
    def endless() -> object:
        index = 0
        while True:
            yield call(index, command="ls")
            index += 1

    result = simulate(
        [policy("log", Action.LOG, "true")],
        endless(),  # type: ignore[arg-type]
        default_posture=Posture.ALLOW,
        max_calls=50,
        sample_limit=3,
    )
    assert (result.total, result.matched, result.truncated, len(result.samples)) == (
        50,
        50,
        True,
        3,
    )
    exact = simulate([], [call(0)], default_posture=Posture.ALLOW, max_calls=1)
    assert not exact.truncated
    assert exact.match_rate == 0.0
    with pytest.raises(ValueError, match="max_calls"):
        simulate([], [], default_posture=Posture.ALLOW, max_calls=0)


def test_no_calls() -> None:
    result = simulate([policy("p")], [], default_posture=Posture.DENY)
    assert (result.total, result.match_rate, result.by_action) == (0, 0.0, {})


def test_the_reference_engine_simulates_the_same() -> None:
    policies = [policy("block-rm", expression='args.command.contains("rm")')]
    calls = [call(0, command="rm"), call(1, command="ls"), call(2)]
    default = simulate(policies, calls, default_posture=Posture.ALLOW)
    reference = simulate(
        policies, calls, default_posture=Posture.ALLOW, engine=engine("cel-python")
    )
    assert (default.by_action, default.errored) == (reference.by_action, reference.errored)
    assert default.by_action == {"block": 2, "allow": 1}
