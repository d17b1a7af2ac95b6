"""The policies that apply to one call name, and how their expressions are evaluated together.

A call into the engine costs more than most policy expressions (about 13,000 instructions with
cel-cpp, against 2,000 to 7,000 for the expression), so when the engine can batch
(`BatchingEngine`), the expressions of a call's candidates run in one call that reports which
matched. The decision still walks the candidates in order with the same rules; only where each
outcome comes from changes. A batch says nothing about errors: when any expression in it errs
or is not a bool, the expressions are evaluated one by one, which gives every outcome and
reason exactly as without batching.

When the batch holds every expression of the candidates, the match bits determine the whole
walk, so the decision they lead to is built once and shared (`decisions`), unless the walk
reached a throttle, whose bucket must be asked on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from corral_sdk.policy.activation import Activation
from corral_sdk.policy.compiled import CompiledPolicy
from corral_sdk.policy.decision import Decision
from corral_sdk.policy.engine import MAX_BATCH, BatchingEngine, CompiledExpression, PolicyEngine

# After this many batches in a row that erred (a policy that always errs on these calls, such
# as a missing key), the candidates stop batching: each call would pay twice.
_MAX_MISSES = 16
# Distinct match patterns remembered per candidate list.
_MAX_DECISIONS = 256


def evaluable(entry: CompiledPolicy) -> bool:
    """Whether the engine runs this policy's expression (it is valid and not a literal)."""
    return entry.program is not None and entry.broken is None and entry.constant is None


class Candidates:
    """The policies one call name is decided by, in evaluation order."""

    __slots__ = (
        "_evaluate_batch",
        "_misses",
        "batch",
        "batched",
        "complete",
        "decisions",
        "entries",
        "uses",
    )

    def __init__(
        self,
        entries: tuple[CompiledPolicy, ...],
        uses: frozenset[str],
        batch: object | None = None,
        batched: int = 0,
        evaluate_batch: Callable[[object, Activation], int | None] | None = None,
    ) -> None:
        self.entries = entries
        # The variables any of them can reference: the others are not converted.
        self.uses = uses
        # The engine's batch over the first `batched` evaluable entries, or None.
        self.batch = batch
        self.batched = batched
        # Bound once here: an isinstance check against a runtime Protocol costs microseconds.
        self._evaluate_batch = evaluate_batch
        self._misses = 0
        # Whether the batch holds every expression the entries have, so that its bits alone
        # determine every outcome; then the decisions already built, by bits.
        self.complete = batch is not None and batched == sum(map(evaluable, entries))
        self.decisions: dict[int, Decision] = {}

    def remember(self, bits: int, decision: Decision) -> None:
        """Keep the decision these match bits lead to (bounded: bits can take many values)."""
        if len(self.decisions) >= _MAX_DECISIONS:
            self.decisions.clear()
        self.decisions[bits] = decision

    def match_bits(self, activation: Activation) -> int | None:
        """Bit i set when the i-th evaluable entry matched; None to evaluate one by one."""
        batch = self.batch
        if batch is None or self._evaluate_batch is None:
            return None
        bits = self._evaluate_batch(batch, activation)
        if bits is None:
            # Not locked: a lost update between threads only delays or hastens the switch.
            self._misses += 1
            if self._misses >= _MAX_MISSES:
                self.batch = None
        else:
            self._misses = 0
        return bits


class BatchCache:
    """Batches compiled once per distinct list of expressions, shared by the call names that
    have the same candidates (agents choose call names; the lists come from the policies)."""

    def __init__(self, engine: PolicyEngine, max_batches: int) -> None:
        self._engine = engine if isinstance(engine, BatchingEngine) else None
        self._max = max_batches
        self._batches: dict[tuple[CompiledPolicy, ...], object | None] = {}

    def candidates(self, entries: tuple[CompiledPolicy, ...], uses: frozenset[str]) -> Candidates:
        """The candidates, with a batch when the engine can batch two or more expressions."""
        engine = self._engine
        runnable = tuple(entry for entry in entries if evaluable(entry))[:MAX_BATCH]
        if engine is None or not runnable:
            return Candidates(entries, uses)
        if runnable not in self._batches:
            if len(self._batches) >= self._max:
                self._batches.clear()
            programs: Sequence[CompiledExpression] = [
                entry.program for entry in runnable if entry.program is not None
            ]
            self._batches[runnable] = engine.compile_batch(programs)
        batch = self._batches[runnable]
        if batch is None:
            return Candidates(entries, uses)
        return Candidates(entries, uses, batch, len(runnable), engine.evaluate_batch)
