"""Evaluating a call's candidate expressions in one engine call decides exactly as one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral_sdk.policy import (
    Action,
    Activation,
    CompiledExpression,
    Decision,
    EvalResult,
    InMemoryThrottleStore,
    Policy,
    PolicySet,
)
from corral_sdk.policy.engine import MAX_BATCH, BatchingEngine
from corral_sdk.policy.engines.cel_cpp import CelCppEngine
from tests.sdk.conformance import CORPUS_DIR
from tests.sdk.policies import policy, tool_call

NOW = datetime(2025, 6, 2, 22, 30, tzinfo=UTC)
CATALOG = [
    Policy(**raw)
    for raw in json.loads((CORPUS_DIR / "bench_policies.json").read_text(encoding="utf-8"))[
        "policies"
    ]
]


class OneByOne:
    """The cel-cpp engine without its batch methods: every expression in its own call."""

    def __init__(self, engine: CelCppEngine) -> None:
        self._engine = engine

    @property
    def name(self) -> str:
        """The wrapped engine's name."""
        return self._engine.name

    def compile(self, source: str) -> CompiledExpression:
        """Compile with the wrapped engine."""
        return self._engine.compile(source)

    def evaluate(self, program: CompiledExpression, activation: Activation) -> EvalResult:
        """Evaluate with the wrapped engine."""
        return self._engine.evaluate(program, activation)


ENGINE = CelCppEngine()


def _pair(policies: list[Policy]) -> tuple[PolicySet, PolicySet]:
    def build(engine: Any) -> PolicySet:
        store = InMemoryThrottleStore(clock=lambda: 0.0)
        return PolicySet(policies, engine=engine, throttle_store=store, clock=lambda: NOW)

    return build(ENGINE), build(OneByOne(ENGINE))


def _same(batched: PolicySet, single: PolicySet, name: str, attrs: dict[str, object]) -> Decision:
    got, expected = batched.decide(name, attrs), single.decide(name, attrs)
    assert got == expected, (name, attrs)
    return got


def test_the_default_engine_batches_and_the_wrapper_does_not() -> None:
    assert isinstance(ENGINE, BatchingEngine)
    assert not isinstance(OneByOne(ENGINE), BatchingEngine)


CALL_ARGS = st.fixed_dictionaries(
    {},
    optional={
        "command": st.sampled_from(["ls", "rm -rf /", "sudo ls", "curl x | sh", "nc -l 1"]),
        "url": st.sampled_from(["https://example.com/a", "http://127.0.0.1/admin", "x", ""]),
        "query": st.sampled_from(["select * from t", "DROP TABLE x", "x' or 1=1", ""]),
        "to": st.lists(st.sampled_from(["a@corp.example", "b@rival.example", "c@x.org"])),
        "q": st.sampled_from(["123-45-6789", "weather"]),
        "path": st.sampled_from(["/etc/shadow", "/workspace/a", "/home/u/.ssh/id"]),
        "body": st.one_of(st.text(max_size=5), st.integers()),
        "text": st.sampled_from(["hi @channel", "hello"]),
        "channel": st.sampled_from(["#general", "#dev"]),
        "amount": st.one_of(st.integers(0, 1000), st.just("x")),
        "force": st.one_of(st.booleans(), st.none()),
    },
)
NAMES = sorted({pattern for p in CATALOG for pattern in p.applies_to} | {"chat", "embeddings"})


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([n.replace("*", "x") for n in NAMES]),
    CALL_ARGS,
    st.sampled_from([None, "quarantined-bot", "helper"]),
)
def test_catalog_decisions_are_the_same_batched_or_not(
    name: str, args: dict[str, Any], agent: str | None
) -> None:
    attrs = tool_call(**args)
    if agent is not None:
        attrs["gen_ai.agent.name"] = agent
    _same(BATCHED, SINGLE, name, attrs)


BATCHED, SINGLE = _pair(CATALOG)


def test_an_erring_expression_falls_back_with_its_reason() -> None:
    policies = [
        policy("missing", expression='args.nothing == "x"', priority=3),
        policy("log", Action.LOG, expression='args.command.startsWith("rm")', priority=2),
        policy("non-bool", Action.LOG, expression='attrs["gen_ai.tool.name"]', priority=1),
    ]
    batched, single = _pair(policies)
    decision = _same(batched, single, "tool.shell", tool_call(command="rm -rf /"))
    assert decision.action is Action.BLOCK
    assert decision.policy_id == "missing"
    assert decision.errors[0].reason is not None
    assert "nothing" in decision.errors[0].reason


def test_a_set_whose_batch_keeps_erring_stops_batching() -> None:
    policies = [
        policy("missing", Action.LOG, expression='args.nothing == "x"', priority=2),
        policy("other", Action.LOG, expression='name == "tool.shell"', priority=1),
    ]
    batched, single = _pair(policies)
    for _ in range(20):
        _same(batched, single, "tool.shell", tool_call(command="ls"))
    assert batched._lookup("tool.shell").batch is None


def test_a_trailing_comment_ends_with_its_expression() -> None:
    policies = [
        policy("commented", Action.LOG, expression='name == "tool.shell" // a note', priority=2),
        policy("block", expression='args.command == "ls" // another', priority=1),
    ]
    batched, single = _pair(policies)
    assert batched._lookup("tool.shell").batch is not None
    decision = _same(batched, single, "tool.shell", tool_call(command="ls"))
    assert [hit.policy_id for hit in decision.matched] == ["commented", "block"]


@pytest.mark.parametrize("matching", [0, 30, MAX_BATCH - 1, MAX_BATCH, MAX_BATCH + 5])
def test_more_policies_than_one_batch_holds(matching: int) -> None:
    policies = [
        policy(
            f"p{index:03}",
            Action.LOG if index != matching else Action.BLOCK,
            expression=f"args.n == {index}",
            priority=1000 - index,
        )
        for index in range(MAX_BATCH + 10)
    ]
    batched, single = _pair(policies)
    assert batched._lookup("tool.x").batched == MAX_BATCH
    decision = _same(batched, single, "tool.x", tool_call(n=matching))
    assert decision.policy_id == f"p{matching:03}"
    assert decision.evaluated == matching + 1


def test_shadow_and_log_policies_keep_their_rules_in_a_batch() -> None:
    policies = [
        policy("shadow-high", expression='name != ""', priority=9, shadow=True),
        policy("log", Action.LOG, expression='name != ""', priority=8),
        policy("allow", Action.ALLOW, expression='name != ""', priority=5),
        policy("shadow-low", expression='name != ""', priority=1, shadow=True),
        policy("block-low", expression='name != ""', priority=0),
    ]
    batched, single = _pair(policies)
    decision = _same(batched, single, "tool.x", tool_call())
    assert decision.policy_id == "allow"
    assert [hit.policy_id for hit in decision.shadow] == ["shadow-high"]
    assert [hit.policy_id for hit in decision.matched] == ["log", "allow"]
    assert decision.evaluated == 3


def test_a_decision_is_built_once_per_match_pattern() -> None:
    policies = [
        policy("log", Action.LOG, expression='args.command.startsWith("rm")', priority=2),
        policy("block", expression='args.command.contains("-rf")', priority=1),
    ]
    batched, single = _pair(policies)
    first = _same(batched, single, "tool.shell", tool_call(command="rm -rf /"))
    again = _same(batched, single, "tool.shell", tool_call(command="rm -rf /tmp"))
    assert again is first
    other = _same(batched, single, "tool.shell", tool_call(command="rm x"))
    assert other.action is Action.ALLOW


def test_throttles_take_a_token_on_every_call_even_with_known_match_patterns() -> None:
    policies = [
        policy(
            "throttle",
            Action.THROTTLE,
            expression='args.command.startsWith("ls")',
            priority=2,
            config={"max_calls": 2, "window_seconds": 3600},
        ),
        policy("log", Action.LOG, expression='name == "tool.shell"', priority=1),
    ]
    batched, single = _pair(policies)
    actions = [
        _same(batched, single, "tool.shell", tool_call(command="ls")).action for _ in range(3)
    ]
    assert actions == [Action.ALLOW, Action.ALLOW, Action.THROTTLE]
