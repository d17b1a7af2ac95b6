"""The evaluator: a set of compiled policies and a default posture that decide each call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from corral_sdk.policy.actions import Action, Posture
from corral_sdk.policy.activation import VARIABLES, Activation
from corral_sdk.policy.candidates import BatchCache, Candidates
from corral_sdk.policy.compiled import CompiledPolicy, compile_policy
from corral_sdk.policy.decision import Decision
from corral_sdk.policy.engine import PolicyEngine, default_engine
from corral_sdk.policy.errors import PolicyProblem, PolicySetError
from corral_sdk.policy.policy import Policy
from corral_sdk.policy.result import MATCH, NO_MATCH
from corral_sdk.policy.throttle import InMemoryThrottleStore, ThrottleStore
from corral_sdk.policy.trace import DecisionTrace
from corral_sdk.policy.values import Attributes

# Call names are chosen by agents; the per-name candidate cache is bounded so that a stream of
# distinct names cannot grow it without limit.
_MAX_CACHED_NAMES = 4096

# Stands in for `now` when no candidate policy references it, so the clock is not read.
_UNUSED_NOW = datetime(1970, 1, 1, tzinfo=UTC)


class PolicySet:
    """Policies compiled once, indexed by call name, deciding calls with one semantics.

    Policies run in order of priority (higher first; at equal priority the stricter action
    first, then by id). The first control decision (block, steer, require_approval, allow, or a
    throttle whose bucket is empty) wins; log and alert are recorded and evaluation continues;
    an admitted throttle continues too. Shadow policies are recorded, never enforced. A policy
    that cannot be evaluated fails closed when its action is block, require_approval or throttle
    (it counts as a match and the reason is in the message), and is recorded and skipped
    otherwise. When nothing decides, posture `allow` allows and posture `deny` blocks.

    With `strict`, any invalid enabled policy raises `PolicySetError` naming each one; without,
    invalid policies stay in the set and always fail as above, and `problems` lists them.
    """

    def __init__(
        self,
        policies: Iterable[Policy],
        *,
        default_posture: Posture = Posture.ALLOW,
        engine: PolicyEngine | None = None,
        throttle_store: ThrottleStore | None = None,
        clock: Callable[[], datetime] | None = None,
        strict: bool = True,
    ) -> None:
        self.engine = engine if engine is not None else default_engine()
        self.default_posture = Posture(default_posture)
        self.throttle_store = (
            throttle_store if throttle_store is not None else InMemoryThrottleStore()
        )
        self._clock = clock if clock is not None else _utc_now
        compiled: list[CompiledPolicy] = []
        problems: list[PolicyProblem] = []
        seen: set[str] = set()
        for policy in policies:
            if not policy.enabled:
                continue
            if policy.id in seen:
                problems.append(PolicyProblem(policy.id, "id", "appears more than once"))
            seen.add(policy.id)
            entry, found = compile_policy(policy, self.engine)
            compiled.append(entry)
            problems += found
        if strict and problems:
            raise PolicySetError(tuple(problems))
        self.problems: tuple[PolicyProblem, ...] = tuple(problems)
        self._ordered = tuple(sorted(compiled, key=lambda entry: entry.order))
        self._by_name: dict[str, Candidates] = {}
        self._batches = BatchCache(self.engine, _MAX_CACHED_NAMES)
        self._default = self._posture_decision(DecisionTrace())
        # The posture decision of a call where nothing matched differs only by how many
        # expressions ran; decisions are immutable, so one per count is built and shared.
        self._unmatched: dict[int, Decision] = {0: self._default}

    @property
    def policies(self) -> tuple[Policy, ...]:
        """The enabled policies, in evaluation order."""
        return tuple(entry.policy for entry in self._ordered)

    def candidates(self, name: str) -> tuple[CompiledPolicy, ...]:
        """The policies whose applies_to covers `name`, in evaluation order."""
        return self._lookup(name).entries

    def _lookup(self, name: str) -> Candidates:
        found = self._by_name.get(name)
        if found is None:
            entries = tuple(entry for entry in self._ordered if entry.applies_to.matches(name))
            uses = frozenset().union(*(entry.uses for entry in entries))
            found = self._batches.candidates(entries, VARIABLES if uses == VARIABLES else uses)
            if len(self._by_name) >= _MAX_CACHED_NAMES:
                self._by_name.clear()
            self._by_name[name] = found
        return found

    def decide(
        self,
        name: str,
        attrs: Attributes,
        *,
        agent: str | None = None,
        end_user: str | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """Decide one proposed call named `name` (e.g. `tool.shell`) with these attributes."""
        found = self._lookup(name)
        candidates, uses = found.entries, found.uses
        if not candidates:
            return self._default
        if now is None:
            # Reading the clock is skipped when no candidate can see `now`.
            now = self._clock() if "now" in uses else _UNUSED_NOW
        activation = Activation(name, attrs, now, used=uses)
        # Which of the first `batched` expressions match, from one call into the engine; the
        # walk applies them in order exactly as if each had been evaluated in turn.
        bits = found.match_bits(activation) if found.batched else None
        if bits is None:
            return self._walk(candidates, activation, 0, 0, agent, end_user)
        if found.complete:
            # Every expression's outcome is in `bits`, so unless a throttle bucket is involved
            # the decision is a function of `bits` alone: it is built once and shared.
            known = found.decisions.get(bits)
            if known is not None:
                return known
        decision = self._walk(candidates, activation, bits, found.batched, agent, end_user)
        if found.complete and all(hit.throttle_admitted is None for hit in decision.matched):
            found.remember(bits, decision)
        return decision

    def _walk(
        self,
        candidates: tuple[CompiledPolicy, ...],
        activation: Activation,
        bits: int,
        batched: int,
        agent: str | None,
        end_user: str | None,
    ) -> Decision:
        evaluate = self.engine.evaluate
        trace: DecisionTrace | None = None
        evaluated = 0
        for entry in candidates:
            program = entry.program
            if program is None or entry.broken is not None:
                result = entry.invalid
            elif entry.constant is not None:
                result = entry.constant
                if result is NO_MATCH:
                    continue
            else:
                if evaluated < batched:
                    result = MATCH if bits >> evaluated & 1 else NO_MATCH
                else:
                    result = evaluate(program, activation)
                evaluated += 1
                # The common case, no match, costs no evidence and no allocation.
                if result is NO_MATCH:
                    continue
            if trace is None:
                trace = DecisionTrace(activation, agent, end_user, self.throttle_store)
            trace.evaluated = evaluated
            decision = trace.record(entry, result)
            if decision is not None:
                return decision
        if trace is None:
            return self._unmatched_decision(evaluated)
        trace.evaluated = evaluated
        return self._posture_decision(trace)

    def _unmatched_decision(self, evaluated: int) -> Decision:
        found = self._unmatched.get(evaluated)
        if found is None:
            trace = DecisionTrace()
            trace.evaluated = evaluated
            found = self._unmatched[evaluated] = self._posture_decision(trace)
        return found

    def _posture_decision(self, trace: DecisionTrace) -> Decision:
        if self.default_posture is Posture.DENY:
            return trace.finish(
                Action.BLOCK, message="no policy allowed this call and the default posture is deny"
            )
        return trace.finish(Action.ALLOW)


def _utc_now() -> datetime:
    return datetime.now(UTC)
