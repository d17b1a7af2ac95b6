"""The conflict report: each kind, the engine's ordering rules, and soundness against decide()."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.governance.conflicts import ConflictKind, PolicyConflict, Severity, analyze
from corral_sdk.policy import Action, InMemoryThrottleStore, JsonValue, Policy, PolicySet
from tests.sdk.policies import policy


def kinds(findings: list[PolicyConflict]) -> list[tuple[ConflictKind, tuple[str, ...]]]:
    return [(finding.kind, finding.policy_ids) for finding in findings]


def test_a_coherent_set_has_no_findings() -> None:
    findings = analyze(
        [
            policy("block-rm", expression='args.command.contains("rm")', priority=10),
            policy("log-all", Action.LOG, "true", priority=20),
            policy(
                "throttle", Action.THROTTLE, "true", config={"max_calls": 5, "window_seconds": 1}
            ),
            policy("allow-search", Action.ALLOW, 'name == "tool.search"', priority=-1),
        ]
    )
    assert findings == []


def test_a_constant_true_block_shadows_everything_it_covers_below_it() -> None:
    findings = analyze(
        [
            policy("block-shell", "block", "true", priority=5, applies_to=("tool.shell",)),
            policy(
                "steer-shell",
                "steer",
                'name != ""',
                applies_to=("tool.shell",),
                config={"replacement": "no"},
            ),
            policy("log-shell", "log", "true", applies_to=("tool.shell",)),
            policy("shadow-shell", "block", "true", shadow=True, applies_to=("tool.shell",)),
            policy("block-tools", "block", 'name == "x"', applies_to=("tool.*",)),
        ]
    )
    assert kinds(findings) == [
        (ConflictKind.SHADOWED, ("block-shell", "shadow-shell")),
        (ConflictKind.SHADOWED, ("block-shell", "steer-shell")),
        (ConflictKind.SHADOWED, ("block-shell", "log-shell")),
    ]
    assert "never records anything" in findings[2].message


def test_ordering_at_equal_priority_is_strictness_then_id() -> None:
    # Same priority: the block runs before the allow whatever their ids, so nothing is hidden
    # from the block; between two blocks, the smaller id runs first.
    assert (
        analyze([policy("a-allow", "allow", "true"), policy("z-block", "block", 'name == "x"')])
        == []
    )
    findings = analyze([policy("b", "block", "true"), policy("a", "block", "true")])
    assert kinds(findings) == [(ConflictKind.DUPLICATE, ("a", "b"))]
    assert "never decides" in findings[0].message


def test_an_allow_all_above_enforcement_is_an_error() -> None:
    findings = analyze(
        [
            policy("allow-all", "allow", "true", priority=100),
            policy("block-rm", "block", 'args.command.contains("rm")'),
            policy("log-all", "log", "true"),
        ]
    )
    assert [(f.kind, f.severity, f.policy_ids) for f in findings] == [
        (ConflictKind.UNREACHABLE_AFTER_ALLOW_ALL, Severity.ERROR, ("allow-all", "block-rm")),
        (ConflictKind.UNREACHABLE_AFTER_ALLOW_ALL, Severity.WARNING, ("allow-all", "log-all")),
    ]


def test_constant_policies_that_do_not_decide_shadow_nothing() -> None:
    config = {"max_calls": 1, "window_seconds": 60}
    assert (
        analyze(
            [
                policy("throttle-all", "throttle", "true", priority=9, config=config),
                policy("log-all", "log", "true", priority=9),
                policy("alert-all", "alert", "true", priority=9),
                policy("shadow-block", "block", "true", priority=9, shadow=True),
                policy("disabled", "block", "true", priority=9, enabled=False),
                policy("block-rm", "block", 'args.command.contains("rm")'),
            ]
        )
        == []
    )


def test_coverage_must_be_complete_to_shadow() -> None:
    assert (
        analyze(
            [
                policy("block-shell", "block", "true", priority=5, applies_to=("tool.shell",)),
                policy("block-x", "block", 'name == "x"', applies_to=("tool.shell", "tool.exec")),
            ]
        )
        == []
    )


def test_contradiction_and_its_severity() -> None:
    expression = 'args.command.contains("deploy")'
    findings = analyze(
        [
            policy("allow-deploy", "allow", expression, priority=2),
            policy("approve-deploy", "require_approval", expression, priority=1),
        ]
    )
    assert [(f.kind, f.severity) for f in findings] == [
        (ConflictKind.CONTRADICTION, Severity.ERROR)
    ]
    findings = analyze(
        [
            policy("block-deploy", "block", expression, priority=2),
            policy("allow-deploy", "allow", f"  {expression} ", priority=1),
        ]
    )
    assert [(f.kind, f.severity) for f in findings] == [
        (ConflictKind.CONTRADICTION, Severity.WARNING)
    ]


def test_same_expression_with_narrower_scope_is_shadowed_not_duplicate() -> None:
    expression = 'args.command.contains("rm")'
    findings = analyze(
        [
            policy("block-all", "block", expression, priority=2),
            policy("block-shell", "block", expression, applies_to=("tool.shell",)),
        ]
    )
    assert kinds(findings) == [(ConflictKind.SHADOWED, ("block-all", "block-shell"))]


def test_a_same_expression_allow_does_not_hide_a_block_that_fails_closed() -> None:
    # On an evaluation error the allow is skipped and the block fails closed, so the block
    # still decides some calls: not shadowed (but an allow above enforcement is worth a look).
    expression = 'args.command.contains("rm")'
    findings = analyze(
        [
            policy("allow-rm", "allow", expression, priority=2, applies_to=("tool.shell",)),
            policy("block-rm", "block", expression, priority=1),
        ]
    )
    assert kinds(findings) == [(ConflictKind.ALLOW_BEFORE_ENFORCEMENT, ("allow-rm", "block-rm"))]


def test_duplicates_that_both_act() -> None:
    findings = analyze([policy("a", "log", "true"), policy("b", "log", "true", applies_to=("*",))])
    assert kinds(findings) == [(ConflictKind.DUPLICATE, ("a", "b"))]
    assert "both act" in findings[0].message


def test_invalid_policies_and_what_they_do() -> None:
    findings = analyze(
        [
            policy("broken-block", "block", "name +", priority=5, applies_to=("tool.shell",)),
            policy("broken-log", "log", "name +"),
            policy("bad-throttle", "throttle", "true", priority=-5, config={"max_calls": 0}),
            policy("later", "allow", "true", applies_to=("tool.shell",)),
            policy("dup", "log", "true"),
            policy("dup", "log", "false"),
        ]
    )
    assert [(f.kind, f.severity, f.policy_ids) for f in findings] == [
        (ConflictKind.INVALID, Severity.ERROR, ("broken-block",)),
        (ConflictKind.INVALID, Severity.ERROR, ("broken-log",)),
        (ConflictKind.INVALID, Severity.ERROR, ("dup",)),
        (ConflictKind.INVALID, Severity.ERROR, ("bad-throttle",)),
        (ConflictKind.SHADOWED, Severity.WARNING, ("broken-block", "later")),
        (ConflictKind.NEVER_MATCHES, Severity.INFO, ("dup",)),
    ]
    assert "fails closed and decides every call" in findings[0].message
    assert "skipped on every call" in findings[1].message
    assert "fails closed and decides every call" in findings[3].message


def test_never_matches() -> None:
    assert kinds(analyze([policy("off", "block", "false")])) == [
        (ConflictKind.NEVER_MATCHES, ("off",))
    ]


# Soundness: whatever analyze() says never acts, never acts, on any call.

EXPRESSIONS = ("true", "false", 'name == "tool.a"', "args.x == 1", "args.x == 2", "name +")
NEVER_ACTS = {
    ConflictKind.SHADOWED,
    ConflictKind.UNREACHABLE_AFTER_ALLOW_ALL,
}
CONFIGS: dict[Action, dict[str, JsonValue]] = {
    Action.STEER: {"replacement": "r"},
    Action.THROTTLE: {"max_calls": 1, "window_seconds": 3600},
}


@st.composite
def policy_sets(draw: st.DrawFn) -> list[Policy]:
    count = draw(st.integers(1, 6))
    return [
        policy(
            f"p{index}",
            action := draw(st.sampled_from(list(Action))),
            draw(st.sampled_from(EXPRESSIONS)),
            priority=draw(st.integers(0, 2)),
            applies_to=tuple(
                draw(st.lists(st.sampled_from(["tool.*", "tool.a", "tool.b", "*.a"]), max_size=2))
            ),
            config=CONFIGS.get(action, {}),
            shadow=draw(st.booleans()),
        )
        for index in range(count)
    ]


CALLS = [
    (name, {"corral.tool.args": json.dumps(args)})
    for name in ("tool.a", "tool.b", "tool.c.d", "chat.a", "chat")
    for args in ({}, {"x": 1}, {"x": 2}, {"x": "s"})
]


@settings(max_examples=200, deadline=None)
@given(policies=policy_sets())
def test_policies_reported_dead_never_act(policies: list[Policy]) -> None:
    findings = analyze(policies)
    dead = {f.policy_ids[-1] for f in findings if f.kind in NEVER_ACTS}
    dead |= {
        f.policy_ids[-1]
        for f in findings
        if f.kind in {ConflictKind.DUPLICATE, ConflictKind.CONTRADICTION}
        and ("never decides" in f.message or "never applies" in f.message)
    }
    policy_set = PolicySet(policies, strict=False, throttle_store=InMemoryThrottleStore())
    for _ in range(2):  # twice, so one-token throttles run out and decide
        for name, attrs in CALLS:
            decision = policy_set.decide(name, attrs)
            acted = {hit.policy_id for hit in (*decision.matched, *decision.shadow)}
            acted |= {alert.policy_id for alert in decision.alerts}
            if decision.policy_id is not None:
                acted.add(decision.policy_id)
            assert not (acted & dead), (name, attrs, findings, decision)
