"""Replay recorded calls through a policy set: what would these policies have done?

Every call is decided by a fresh `PolicySet` at the time it was made (so `now` and throttle
buckets see the recorded times), in time order. A policy that does not compile is reported in
`problems` and behaves as it would in production (an invalid block fails closed); nothing here
raises because of a policy or a call.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from corral_sdk.policy import (
    Decision,
    InMemoryThrottleStore,
    Policy,
    PolicyEngine,
    PolicyProblem,
    PolicySet,
    Posture,
)

DEFAULT_SAMPLE_LIMIT = 20
# Enough for a day of a busy agent; the caller pages through more if it wants to.
DEFAULT_MAX_CALLS = 10_000


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    """One recorded call, as read from a stored span."""

    span_id: str
    trace_id: str
    call_name: str
    attributes: Mapping[str, object]
    start_time: datetime
    agent: str | None = None
    end_user: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """What the policies decided for one call, and which policies took part."""

    action: str
    policy_id: str | None
    policy_name: str | None
    message: str | None
    by_default: bool
    matched_policy_ids: tuple[str, ...]
    shadow_policy_ids: tuple[str, ...]
    error_policy_ids: tuple[str, ...]

    @staticmethod
    def of(decision: Decision) -> DecisionSummary:
        """The summary of a decision."""
        return DecisionSummary(
            action=decision.action.value,
            policy_id=decision.policy_id,
            policy_name=decision.policy_name,
            message=decision.message,
            by_default=decision.by_default,
            matched_policy_ids=tuple(hit.policy_id for hit in decision.matched),
            shadow_policy_ids=tuple(hit.policy_id for hit in decision.shadow),
            error_policy_ids=tuple(failure.policy_id for failure in decision.errors),
        )


@dataclass(frozen=True, slots=True)
class SimulationSample:
    """A call some policy matched, and the decision it got."""

    call: SimulatedCall
    decision: DecisionSummary


@dataclass(frozen=True, slots=True)
class SimulationError:
    """A call on which a policy could not be evaluated, and why."""

    call: SimulatedCall
    policy_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Counts over every simulated call, and a few samples of each kind.

    `matched`: calls on which at least one policy matched (including shadow policies and
    policies that failed closed); `match_rate` is `matched / total`, 0 without calls.
    `errored`: calls on which at least one policy could not be evaluated, or whose decision
    failed. `by_action`: the decided action of every call, including those the default
    posture decided. `by_policy`: for each policy id, the calls it matched. `truncated`: more
    calls were offered than `max_calls`; the rest were not read.
    """

    total: int
    matched: int
    errored: int
    match_rate: float
    by_action: Mapping[str, int]
    by_policy: Mapping[str, int]
    samples: list[SimulationSample] = field(default_factory=list)
    error_samples: list[SimulationError] = field(default_factory=list)
    problems: tuple[PolicyProblem, ...] = ()
    truncated: bool = False


class _ReplayClock:
    """Seconds for the throttle buckets, following the simulated calls and never going back."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def advance_to(self, moment: datetime) -> None:
        self.seconds = max(self.seconds, moment.timestamp())

    def __call__(self) -> float:
        return self.seconds


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def simulate(
    policies: Sequence[Policy],
    calls: Iterable[SimulatedCall],
    *,
    default_posture: Posture | str,
    sample_limit: int = DEFAULT_SAMPLE_LIMIT,
    max_calls: int = DEFAULT_MAX_CALLS,
    engine: PolicyEngine | None = None,
) -> SimulationResult:
    """Decide each call (at most `max_calls`) with `policies` and count what happened."""
    if max_calls < 1 or sample_limit < 0:
        raise ValueError("max_calls must be at least 1 and sample_limit at least 0")
    batch = list(itertools.islice(calls, max_calls + 1))
    truncated = len(batch) > max_calls
    batch = sorted(batch[:max_calls], key=lambda call: _utc(call.start_time))
    clock = _ReplayClock()
    policy_set = PolicySet(
        policies,
        default_posture=Posture(default_posture),
        engine=engine,
        throttle_store=InMemoryThrottleStore(clock=clock),
        strict=False,
    )
    by_action: Counter[str] = Counter()
    by_policy: Counter[str] = Counter()
    matched = errored = 0
    samples: list[SimulationSample] = []
    error_samples: list[SimulationError] = []
    for call in batch:
        moment = _utc(call.start_time)
        clock.advance_to(moment)
        try:
            decision = policy_set.decide(
                call.call_name,
                call.attributes,
                agent=call.agent,
                end_user=call.end_user,
                now=moment,
            )
        # One call with attributes the engine cannot take must not end the simulation.
        except Exception as exc:  # noqa: BLE001
            errored += 1
            if len(error_samples) < sample_limit:
                error_samples.append(SimulationError(call, None, f"{type(exc).__name__}: {exc}"))
            continue
        by_action[decision.action.value] += 1
        hits = {hit.policy_id for hit in (*decision.matched, *decision.shadow)}
        by_policy.update(hits)
        if hits:
            matched += 1
            if len(samples) < sample_limit:
                samples.append(SimulationSample(call, DecisionSummary.of(decision)))
        if decision.errors:
            errored += 1
            for failure in decision.errors:
                if len(error_samples) < sample_limit:
                    error_samples.append(SimulationError(call, failure.policy_id, failure.reason))
    return SimulationResult(
        total=len(batch),
        matched=matched,
        errored=errored,
        match_rate=matched / len(batch) if batch else 0.0,
        by_action=dict(by_action),
        by_policy=dict(by_policy),
        samples=samples,
        error_samples=error_samples,
        problems=policy_set.problems,
        truncated=truncated,
    )
