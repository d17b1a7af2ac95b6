"""Errors raised while compiling policy expressions and building policy sets."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Engines report positions as `<input>:LINE:COL:` (cel-cpp, cel-rust); the first one is the
# position a policy author needs.
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class PolicyCompileError(ValueError):
    """A policy expression that does not compile, with its 1-based position when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f"{line}:{column}: " if line is not None and column is not None else ""
        super().__init__(f"{where}{message}")

    @staticmethod
    def from_engine_message(text: str) -> PolicyCompileError:
        """Parse an engine's `<input>:line:col: message` report into a positioned error."""
        found = _POSITION.search(text)
        if found is None:
            return PolicyCompileError(text.strip().splitlines()[0] if text.strip() else text)
        first_line = found.group(3).splitlines()[0] if found.group(3) else ""
        return PolicyCompileError(
            first_line.strip(), line=int(found.group(1)), column=int(found.group(2))
        )


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """Why one policy cannot be used: the policy, the field at fault and the message."""

    policy_id: str
    field: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" at {self.line}:{self.column}" if self.line is not None else ""
        return f"policy {self.policy_id}: {self.field}{where}: {self.message}"


class PolicySetError(ValueError):
    """A policy set could not be built; `problems` names every policy at fault."""

    def __init__(self, problems: tuple[PolicyProblem, ...]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))
