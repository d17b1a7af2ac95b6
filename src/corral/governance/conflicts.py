"""The conflict and shadowing report: policies that can never act, or act against each other.

Every finding is certain, never a guess, except `allow_before_enforcement`, which says that
some calls may skip an enforcing policy. The reasoning follows `PolicySet.decide` exactly:
policies run in `CompiledPolicy.order` (priority descending, then the stricter action, then
id); block, steer, require_approval and allow decide when they match; a throttle decides only
when its bucket is empty; log and alert never decide; shadow policies never decide and are only
evaluated above the deciding policy; an invalid enforcing policy fails closed on every call it
covers; the literal `true` and `false` are decided without the engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from corral.governance.coverage import covers, effective_patterns, overlaps, same_coverage
from corral_sdk.policy import Action, CompiledPolicy, Policy, PolicyEngine, compile_policy
from corral_sdk.policy.engine import default_engine
from corral_sdk.policy.result import MATCH, NO_MATCH


class ConflictKind(StrEnum):
    """What is wrong."""

    INVALID = "invalid"
    DUPLICATE = "duplicate"
    CONTRADICTION = "contradiction"
    SHADOWED = "shadowed"
    UNREACHABLE_AFTER_ALLOW_ALL = "unreachable_after_allow_all"
    NEVER_MATCHES = "never_matches"
    ALLOW_BEFORE_ENFORCEMENT = "allow_before_enforcement"


class Severity(StrEnum):
    """`error`: a control does not do what it says; `warning`: dead or redundant policy;
    `info`: worth a look."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}

# Actions that decide the call whenever they match (a throttle decides only when empty).
_DECIDES_ON_MATCH = frozenset({Action.BLOCK, Action.STEER, Action.REQUIRE_APPROVAL, Action.ALLOW})


@dataclass(frozen=True, slots=True)
class PolicyConflict:
    """One finding; `policy_ids` are in evaluation order, the policy at fault last."""

    kind: ConflictKind
    severity: Severity
    policy_ids: tuple[str, ...]
    message: str


def analyze(
    policies: Sequence[Policy], *, engine: PolicyEngine | None = None
) -> list[PolicyConflict]:
    """Every conflict among the enabled policies, most severe first. Never raises."""
    engine = engine if engine is not None else default_engine()
    enabled = [policy for policy in policies if policy.enabled]
    findings = _duplicate_ids(enabled)
    compiled: list[CompiledPolicy] = []
    for policy in enabled:
        entry, problems = compile_policy(policy, engine)
        compiled.append(entry)
        if problems:
            findings.append(_invalid(entry))
    ordered = sorted(compiled, key=lambda entry: entry.order)
    position = {id(entry): index for index, entry in enumerate(ordered)}
    # Policies that never act: an allow among them lets nothing skip anything.
    dead: set[int] = set()
    for index, later in enumerate(ordered):
        earlier = [entry for entry in ordered[:index] if id(entry) not in dead]
        found, never_acts = _against_earlier(later, earlier)
        findings += found
        if never_acts:
            dead.add(id(later))
        if later.broken is None and later.constant is NO_MATCH:
            findings.append(
                PolicyConflict(
                    ConflictKind.NEVER_MATCHES,
                    Severity.INFO,
                    (later.policy.id,),
                    f"{_label(later)} has the expression `false`: it never matches.",
                )
            )
    first_position = {entry.policy.id: position[id(entry)] for entry in reversed(ordered)}
    # Most severe first, then in evaluation order of the policy at fault.
    return sorted(
        findings,
        key=lambda f: (
            _SEVERITY_RANK[f.severity],
            first_position.get(f.policy_ids[-1], -1),
            [first_position.get(pid, -1) for pid in f.policy_ids],
            f.kind.value,
        ),
    )


def _label(entry: CompiledPolicy) -> str:
    policy = entry.policy
    shadow = ", shadow" if policy.shadow else ""
    return f"{policy.id} ({policy.action.value}, priority {policy.priority}{shadow})"


def _duplicate_ids(policies: Sequence[Policy]) -> list[PolicyConflict]:
    counts = Counter(policy.id for policy in policies)
    return [
        PolicyConflict(
            ConflictKind.INVALID,
            Severity.ERROR,
            (policy_id,),
            f"the id {policy_id} is used by {count} enabled policies",
        )
        for policy_id, count in sorted(counts.items())
        if count > 1
    ]


def _invalid(entry: CompiledPolicy) -> PolicyConflict:
    if _always_decides(entry):
        effect = "so it fails closed and decides every call it applies to"
    elif entry.policy.action is Action.THROTTLE:
        effect = "so it takes a throttle token on every call it applies to"
    else:
        effect = "so it is skipped on every call"
    return PolicyConflict(
        ConflictKind.INVALID,
        Severity.ERROR,
        (entry.policy.id,),
        f"{_label(entry)} is invalid ({entry.broken}), {effect}.",
    )


def _always_decides(entry: CompiledPolicy) -> bool:
    """Whether the policy decides every call it applies to, whatever the call."""
    policy = entry.policy
    if policy.shadow:
        return False
    if entry.broken is not None:
        # An invalid enforcing policy fails closed; an invalid throttle config never admits.
        throttle_without_bucket = policy.action is Action.THROTTLE and (
            entry.settings is None or entry.settings.throttle is None
        )
        return policy.action in {Action.BLOCK, Action.REQUIRE_APPROVAL} or throttle_without_bucket
    return entry.constant is MATCH and policy.action in _DECIDES_ON_MATCH


def _same_expression(first: CompiledPolicy, second: CompiledPolicy) -> bool:
    return (
        first.broken is None
        and second.broken is None
        and first.policy.expression.strip() == second.policy.expression.strip()
    )


def _decides_whenever_matched(earlier: CompiledPolicy, later: CompiledPolicy) -> bool:
    """Whether `earlier` decides every call on which `later` could do anything at all.

    With the same expression, both match on the same calls (one decision evaluates both on the
    same variables and time). On an evaluation error an enforcing `earlier` fails closed and
    decides; a non-enforcing one is skipped, which only matters when `later` would then fail
    closed.
    """
    if _always_decides(earlier):
        return True
    policy = earlier.policy
    return (
        not policy.shadow
        and policy.action in _DECIDES_ON_MATCH
        and _same_expression(earlier, later)
        and (policy.action.enforcing or not later.policy.action.enforcing)
    )


def _patterns(entry: CompiledPolicy) -> tuple[str, ...]:
    return effective_patterns(entry.policy.applies_to)


def _against_earlier(
    later: CompiledPolicy, earlier: Sequence[CompiledPolicy]
) -> tuple[list[PolicyConflict], bool]:
    """The findings about `later` given the live policies before it, and whether it is dead."""
    found: list[PolicyConflict] = []
    twin = next(
        (
            entry
            for entry in earlier
            if _same_expression(entry, later)
            and same_coverage(_patterns(entry), _patterns(later))
            and _twin_kind(entry, later) is not None
        ),
        None,
    )
    if twin is not None:
        found.append(_twin_conflict(twin, later))
    blocker = next(
        (
            entry
            for entry in earlier
            if covers(_patterns(entry), _patterns(later))
            and _decides_whenever_matched(entry, later)
        ),
        None,
    )
    if blocker is not None and blocker is not twin:
        found.append(_preempted(blocker, later))
    if blocker is None and later.policy.action.enforcing and not later.policy.shadow:
        allows = [
            entry
            for entry in earlier
            if entry.policy.action is Action.ALLOW
            and entry is not twin
            and not entry.policy.shadow
            and entry.broken is None
            and entry.constant is not NO_MATCH
            and overlaps(_patterns(entry), _patterns(later))
        ]
        if allows:
            names = ", ".join(_label(entry) for entry in allows)
            found.append(
                PolicyConflict(
                    ConflictKind.ALLOW_BEFORE_ENFORCEMENT,
                    Severity.INFO,
                    (*(entry.policy.id for entry in allows), later.policy.id),
                    f"{names} can allow calls that {_label(later)} also applies to, and runs "
                    "first: on those calls it is never evaluated. Lower the allow's priority "
                    "below it if it must always apply.",
                )
            )
    never_acts = blocker is not None or (
        twin is not None and _decides_whenever_matched(twin, later)
    )
    return found, never_acts


def _twin_kind(first: CompiledPolicy, second: CompiledPolicy) -> ConflictKind | None:
    a, b = first.policy, second.policy
    if a.action is b.action and a.shadow == b.shadow:
        return ConflictKind.DUPLICATE
    if (
        not a.shadow
        and not b.shadow
        and a.action in _DECIDES_ON_MATCH
        and b.action in _DECIDES_ON_MATCH
    ):
        return ConflictKind.CONTRADICTION
    return None


def _twin_conflict(first: CompiledPolicy, second: CompiledPolicy) -> PolicyConflict:
    kind = _twin_kind(first, second)
    ids = (first.policy.id, second.policy.id)
    if kind is ConflictKind.DUPLICATE:
        effect = (
            "it is evaluated second and never decides"
            if _decides_whenever_matched(first, second)
            else "both act on the same calls"
        )
        return PolicyConflict(
            ConflictKind.DUPLICATE,
            Severity.WARNING,
            ids,
            f"{_label(second)} has the same expression, applies_to and action as "
            f"{_label(first)}; {effect}.",
        )
    disabled_control = first.policy.action is Action.ALLOW and second.policy.action.enforcing
    effect = (
        f"so {second.policy.action.value} never applies"
        if _decides_whenever_matched(first, second)
        else f"so {second.policy.action.value} applies only when the expression fails"
    )
    return PolicyConflict(
        ConflictKind.CONTRADICTION,
        Severity.ERROR if disabled_control else Severity.WARNING,
        ids,
        f"{_label(first)} and {_label(second)} match the same calls with different actions; "
        f"{first.policy.id} is evaluated first, {effect}.",
    )


def _preempted(blocker: CompiledPolicy, later: CompiledPolicy) -> PolicyConflict:
    ids = (blocker.policy.id, later.policy.id)
    if blocker.broken is not None:
        why = f"{_label(blocker)} is invalid and fails closed on every call it applies to"
    elif _always_decides(blocker):
        why = f"{_label(blocker)} matches every call it applies to (expression `true`)"
    else:
        why = f"{_label(blocker)} has the same expression and decides whenever it matches"
    effect = (
        "is never evaluated"
        if later.policy.action.control or later.policy.shadow
        else "never records anything"
    )
    message = (
        f"{why}, covers every call {_label(later)} applies to, and runs first: "
        f"{later.policy.id} {effect}."
    )
    allow_all = (
        blocker.policy.action is Action.ALLOW
        and blocker.broken is None
        and blocker.constant is MATCH
    )
    if allow_all:
        enforcing = later.policy.action.enforcing and not later.policy.shadow
        return PolicyConflict(
            ConflictKind.UNREACHABLE_AFTER_ALLOW_ALL,
            Severity.ERROR if enforcing else Severity.WARNING,
            ids,
            message,
        )
    return PolicyConflict(ConflictKind.SHADOWED, Severity.WARNING, ids, message)
