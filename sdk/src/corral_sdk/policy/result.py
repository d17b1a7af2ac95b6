"""The tri-state outcome of evaluating one policy expression: match, no match, or error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Outcome(StrEnum):
    """Whether an expression matched, did not match, or could not be evaluated."""

    MATCH = "match"
    NO_MATCH = "no_match"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class EvalResult:
    """One evaluation: its outcome and, for an error, why it failed."""

    outcome: Outcome
    reason: str | None = None

    @staticmethod
    def error(reason: str) -> EvalResult:
        """An evaluation that failed, with a reason a policy author can act on."""
        return EvalResult(Outcome.ERROR, reason)


# Shared instances: the hot path returns these instead of allocating a result per evaluation.
MATCH = EvalResult(Outcome.MATCH)
NO_MATCH = EvalResult(Outcome.NO_MATCH)


# Most specific first: bool is an int, and cel-python's value types subclass the Python ones.
_CEL_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (list, "list"),
    (dict, "map"),
    (datetime, "timestamp"),
    (timedelta, "duration"),
    (type(None), "null_type"),
)


def non_bool(value: object) -> EvalResult:
    """The error for an expression whose value is not a bool, naming the value's CEL type."""
    name = next(
        (cel for python, cel in _CEL_TYPE_NAMES if isinstance(value, python)),
        type(value).__name__,
    )
    return EvalResult.error(f"policy expression must return a bool, got {name}")
