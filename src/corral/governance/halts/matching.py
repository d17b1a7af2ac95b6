"""Which active halt, if any, covers a run or a call. Pure: the callers load the halts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from corral.governance.halts.models import Halt

HALTED = "halted"
PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class ActiveHalt:
    """What enforcement needs of a halt, detached from the session (safe to cache)."""

    id: str
    scope: str
    scope_value: str
    end_user_external_id: str | None
    state: str
    reason: str

    @classmethod
    def of(cls, halt: Halt) -> ActiveHalt:
        return cls(
            halt.id,
            halt.scope,
            halt.scope_value,
            halt.end_user_external_id,
            halt.state,
            halt.reason,
        )

    @property
    def describe(self) -> str:
        what = (
            "the application"
            if self.scope == "application"
            else (f"{self.scope.replace('_', '-')} {self.scope_value!r}")
        )
        return f"{what} is {self.state} ({self.id}): {self.reason}"


@dataclass(frozen=True, slots=True)
class Subject:
    """What a run or a call is, as far as halts go; None fields match no halt of that scope."""

    agent: str | None = None
    end_user: str | None = None
    model: str | None = None
    run_id: str | None = None


def covers(halt: ActiveHalt, subject: Subject) -> bool:
    scope, value = halt.scope, halt.scope_value
    if scope == "application":
        return True
    if scope == "agent":
        return subject.agent is not None and subject.agent == value
    if scope == "end_user":
        return subject.end_user is not None and subject.end_user in (
            value,
            halt.end_user_external_id,
        )
    if scope == "model":
        return subject.model is not None and subject.model == value
    if scope == "run":
        return subject.run_id is not None and subject.run_id == value
    return False


def first_covering(
    halts: Iterable[ActiveHalt], subject: Subject, *, states: frozenset[str] | None = None
) -> ActiveHalt | None:
    """The covering halt, `halted` ones before `paused` ones, or None."""
    found: ActiveHalt | None = None
    for halt in halts:
        if states is not None and halt.state not in states:
            continue
        if covers(halt, subject):
            if halt.state == HALTED:
                return halt
            found = found or halt
    return found


def revision(halts: Sequence[ActiveHalt]) -> str:
    """A digest of the active set, the same on every replica for the same rows."""
    rows = sorted(
        (h.id, h.scope, h.scope_value, h.end_user_external_id or "", h.state, h.reason)
        for h in halts
    )
    return hashlib.sha256(orjson.dumps(rows)).hexdigest()[:32]
