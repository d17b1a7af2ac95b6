"""A policy checked and compiled once, ready to be evaluated on every call."""

from __future__ import annotations

from dataclasses import dataclass

from corral_sdk.policy.actions import STRICTNESS, ActionSettings, parse_action_config
from corral_sdk.policy.activation import referenced_variables
from corral_sdk.policy.applies_to import AppliesTo, pattern_problem
from corral_sdk.policy.decision import PolicyHit
from corral_sdk.policy.engine import CompiledExpression, PolicyEngine
from corral_sdk.policy.errors import PolicyCompileError, PolicyProblem
from corral_sdk.policy.policy import Policy
from corral_sdk.policy.result import MATCH, NO_MATCH, EvalResult

_CONSTANTS = {"true": MATCH, "false": NO_MATCH}


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicy:
    """A policy with its compiled program, or the reason it cannot be evaluated."""

    policy: Policy
    program: CompiledExpression | None
    settings: ActionSettings | None
    applies_to: AppliesTo
    broken: str | None
    uses: frozenset[str]
    # The outcome of an expression that is the literal `true` or `false` (common for log,
    # throttle and allow policies), known without evaluating it.
    constant: EvalResult | None
    # The evidence of a plain match of this policy, built once: hits are immutable.
    hit: PolicyHit
    # The same for a throttle that refused (index 0) or admitted (index 1) the call.
    throttle_hits: tuple[PolicyHit, PolicyHit]

    @property
    def invalid(self) -> EvalResult:
        """The result an invalid policy has on every call."""
        return EvalResult.error(f"policy is invalid: {self.broken}")

    @property
    def order(self) -> tuple[int, int, str]:
        """Sort key: priority descending, then stricter action first, then id."""
        policy = self.policy
        return (-policy.priority, STRICTNESS[policy.action], policy.id)


def _shape_problems(policy: Policy) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(PolicyProblem(policy.id, field, message))

    if not isinstance(policy.id, str) or not policy.id:
        problem("id", "must be a non-empty string")
    if isinstance(policy.priority, bool) or not isinstance(policy.priority, int):
        problem("priority", "must be an integer")
    if not isinstance(policy.expression, str) or not policy.expression.strip():
        problem("expression", "must be a non-empty CEL expression")
    for pattern in policy.applies_to:
        reason = pattern_problem(pattern) if isinstance(pattern, str) else "not a string"
        if reason is not None:
            problem("applies_to", reason)
    return problems


def compile_policy(
    policy: Policy, engine: PolicyEngine
) -> tuple[CompiledPolicy, tuple[PolicyProblem, ...]]:
    """Check and compile one policy; a policy with problems comes back `broken`."""
    problems = _shape_problems(policy)
    settings: ActionSettings | None = None
    settings, config_problems = parse_action_config(policy.action, policy.action_config)
    problems += [PolicyProblem(policy.id, "action_config", text) for text in config_problems]
    program: CompiledExpression | None = None
    if isinstance(policy.expression, str) and policy.expression.strip():
        try:
            program = engine.compile(policy.expression)
        except PolicyCompileError as exc:
            problems.append(
                PolicyProblem(policy.id, "expression", exc.message, exc.line, exc.column)
            )
    valid_patterns = [
        p for p in policy.applies_to if isinstance(p, str) and pattern_problem(p) is None
    ]
    broken = "; ".join(f"{p.field}: {p.message}" for p in problems) or None
    source = policy.expression.strip() if isinstance(policy.expression, str) else ""
    compiled = CompiledPolicy(
        policy,
        program,
        settings,
        AppliesTo(valid_patterns),
        broken,
        referenced_variables(source),
        _CONSTANTS.get(source),
        PolicyHit(policy.id, policy.name, policy.action),
        (
            PolicyHit(policy.id, policy.name, policy.action, throttle_admitted=False),
            PolicyHit(policy.id, policy.name, policy.action, throttle_admitted=True),
        ),
    )
    return compiled, tuple(problems)


def validate_policy(policy: Policy, engine: PolicyEngine) -> tuple[PolicyProblem, ...]:
    """Every problem with one policy (compile errors carry line and column); empty when valid."""
    return compile_policy(policy, engine)[1]
