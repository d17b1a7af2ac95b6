"""Throttle policies: token buckets per policy and scope, on an injected clock."""

from __future__ import annotations

import pytest

from corral_sdk.policy import (
    Action,
    InMemoryThrottleStore,
    JsonValue,
    PolicySet,
    ThrottleVerdict,
)
from tests.sdk.policies import policy, tool_call


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttled(
    clock: Clock, *, max_calls: int = 2, window: float = 60.0, scope: str = "agent"
) -> PolicySet:
    """A set holding one throttle policy on an in-memory store driven by `clock`."""
    config: dict[str, JsonValue] = {
        "max_calls": max_calls,
        "window_seconds": window,
        "scope": scope,
    }
    return PolicySet(
        [policy("rate", Action.THROTTLE, config=config)],
        throttle_store=InMemoryThrottleStore(clock=clock),
    )


def test_the_bucket_admits_max_calls_then_refuses_with_retry_after() -> None:
    clock = Clock()
    policies = throttled(clock)
    assert policies.decide("tool.shell", {}, agent="a").allowed
    assert policies.decide("tool.shell", {}, agent="a").allowed
    decision = policies.decide("tool.shell", {}, agent="a")
    assert decision.action is Action.THROTTLE
    assert decision.retry_after_seconds == pytest.approx(30.0)
    assert decision.matched[-1].throttle_admitted is False


def test_tokens_refill_evenly_over_the_window() -> None:
    clock = Clock()
    policies = throttled(clock)
    for _ in range(2):
        policies.decide("tool.shell", {}, agent="a")
    clock.now += 29.0
    assert policies.decide("tool.shell", {}, agent="a").retry_after_seconds == pytest.approx(1.0)
    clock.now += 1.0
    assert policies.decide("tool.shell", {}, agent="a").allowed
    clock.now += 3600.0
    assert policies.decide("tool.shell", {}, agent="a").allowed
    assert policies.decide("tool.shell", {}, agent="a").allowed
    assert not policies.decide("tool.shell", {}, agent="a").allowed


def test_an_admitted_throttle_lets_lower_policies_decide() -> None:
    clock = Clock()
    policies = PolicySet(
        [
            policy(
                "rate", Action.THROTTLE, priority=9, config={"max_calls": 1, "window_seconds": 1}
            ),
            policy("block", expression='args.command == "rm"'),
        ],
        throttle_store=InMemoryThrottleStore(clock=clock),
    )
    decision = policies.decide("tool.shell", tool_call(command="rm"))
    assert decision.policy_id == "block"
    assert decision.matched[0].throttle_admitted is True


@pytest.mark.parametrize(
    ("scope", "first", "second", "shared"),
    [
        ("agent", {"agent": "a"}, {"agent": "b"}, False),
        ("agent", {"agent": "a", "end_user": "x"}, {"agent": "a", "end_user": "y"}, True),
        ("end_user", {"end_user": "x"}, {"end_user": "y"}, False),
        ("end_user", {"agent": "a", "end_user": "x"}, {"agent": "b", "end_user": "x"}, True),
        ("global", {"agent": "a"}, {"agent": "b"}, True),
    ],
)
def test_scope_decides_who_shares_a_bucket(
    scope: str, first: dict[str, str], second: dict[str, str], shared: bool
) -> None:
    policies = throttled(Clock(), max_calls=1, scope=scope)
    decide = policies.decide
    assert decide(
        "tool.shell", {}, agent=first.get("agent"), end_user=first.get("end_user")
    ).allowed
    again = decide("tool.shell", {}, agent=second.get("agent"), end_user=second.get("end_user"))
    assert again.allowed is not shared


def test_the_agent_falls_back_to_the_span_attributes() -> None:
    policies = throttled(Clock(), max_calls=1)
    assert policies.decide("tool.shell", {"gen_ai.agent.id": "a"}).allowed
    assert policies.decide("tool.shell", {"gen_ai.agent.name": "b"}).allowed
    assert not policies.decide("tool.shell", {"gen_ai.agent.id": "a"}).allowed


def test_each_policy_has_its_own_buckets() -> None:
    clock = Clock()
    config = {"max_calls": 1, "window_seconds": 60}
    policies = PolicySet(
        [
            policy("one", Action.THROTTLE, config=config, applies_to=("tool.a",)),
            policy("two", Action.THROTTLE, config=config, applies_to=("tool.b",)),
        ],
        throttle_store=InMemoryThrottleStore(clock=clock),
    )
    assert policies.decide("tool.a", {}, agent="x").allowed
    assert policies.decide("tool.b", {}, agent="x").allowed


def test_shadow_throttles_take_no_tokens() -> None:
    store = InMemoryThrottleStore(clock=Clock())
    config = {"max_calls": 1, "window_seconds": 60}
    policies = PolicySet(
        [policy("rate", Action.THROTTLE, config=config, shadow=True)], throttle_store=store
    )
    for _ in range(3):
        decision = policies.decide("tool.shell", {}, agent="a")
        assert decision.allowed
        assert decision.shadow[0].policy_id == "rate"
    assert len(store) == 0


def test_a_throttle_whose_expression_errors_counts_the_call() -> None:
    policies = PolicySet(
        [
            policy(
                "rate",
                Action.THROTTLE,
                "args.missing == 1",
                config={"max_calls": 1, "window_seconds": 60},
            )
        ],
        throttle_store=InMemoryThrottleStore(clock=Clock()),
    )
    assert policies.decide("tool.shell", {}, agent="a").allowed
    decision = policies.decide("tool.shell", {}, agent="a")
    assert decision.action is Action.THROTTLE
    assert decision.errors[0].failed_closed


class BrokenStore:
    """A shared store that cannot be reached."""

    # The signature is the protocol's; this store fails before it looks at anything.
    def take(self, key: str, max_calls: int, window_seconds: float) -> ThrottleVerdict:  # noqa: ARG002
        raise ConnectionError("store down")


def test_an_unreachable_store_fails_closed() -> None:
    policies = PolicySet(
        [policy("rate", Action.THROTTLE, config={"max_calls": 5, "window_seconds": 1})],
        throttle_store=BrokenStore(),
    )
    decision = policies.decide("tool.shell", {}, agent="a")
    assert decision.action is Action.THROTTLE
    assert decision.message is not None
    assert "store down" in decision.message
    assert [(e.policy_id, e.failed_closed) for e in decision.errors] == [("rate", True)]


def test_the_store_prunes_full_buckets_past_its_bound() -> None:
    clock = Clock()
    store = InMemoryThrottleStore(clock=clock, max_buckets=10)
    for index in range(10):
        store.take(f"k{index}", 1, 1.0)
    clock.now += 5.0
    store.take("fresh", 1, 1.0)
    assert len(store) == 1


def test_the_store_evicts_the_soonest_full_buckets_when_none_is_full() -> None:
    store = InMemoryThrottleStore(clock=Clock(), max_buckets=3)
    for index in range(5):
        store.take(f"k{index}", 1, 60.0 + index)
    assert len(store) == 3
    assert not store.take("k4", 1, 64.0).admitted
