"""What a guarded tool call becomes, decided once for every framework adapter.

A framework adapter asks Corral about a tool call before the tool's body runs and gets back one of
three outcomes: run the tool (`Proceed`), answer with a policy's replacement instead of running it
(`Replace`, from a `steer` policy), or refuse it (`Refuse`, from any `PolicyBlocked`). Other Corral
errors (`Halted`, `ServerUnreachable` when failing closed, `AuthenticationFailed`) are not
decisions the agent can adapt to, so they propagate and stop the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from corral_sdk import Client, Decision, PolicyBlocked
from corral_sdk.policy import Action

OnBlock = Literal["message", "raise"]
"""`message`: the agent sees the refusal as the tool's result and goes on; `raise`: the
`PolicyBlocked` error propagates out of the tool (and usually out of the agent run)."""


@dataclass(frozen=True, slots=True)
class Proceed:
    """Run the tool as asked."""


@dataclass(frozen=True, slots=True)
class Replace:
    """Do not run the tool; `value` is its result (a `steer` policy's replacement)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Refuse:
    """Do not run the tool; `text` tells the agent why."""

    error: PolicyBlocked
    text: str


Outcome = Proceed | Replace | Refuse


@dataclass(frozen=True, slots=True)
class ToolGuard:
    """Who checks a framework's tool calls, and how a refusal reaches the agent."""

    client: Client
    on_block: OnBlock = "message"
    agent: str | None = None
    end_user: str | None = None

    def __post_init__(self) -> None:
        if self.on_block not in ("message", "raise"):
            raise ValueError(f"on_block must be 'message' or 'raise', not {self.on_block!r}")

    def check(self, tool_name: str, args: Mapping[str, Any]) -> Outcome:
        try:
            decision = self.client.check(
                call_name(tool_name), args=args, agent=self.agent, end_user=self.end_user
            )
        except PolicyBlocked as error:
            return Refuse(error, refusal_text(error))
        return _outcome(decision)

    async def acheck(self, tool_name: str, args: Mapping[str, Any]) -> Outcome:
        try:
            decision = await self.client.acheck(
                call_name(tool_name), args=args, agent=self.agent, end_user=self.end_user
            )
        except PolicyBlocked as error:
            return Refuse(error, refusal_text(error))
        return _outcome(decision)


def call_name(tool_name: str) -> str:
    """The name Corral policies match a tool call on (`applies_to: ["tool.shell"]`)."""
    return f"tool.{tool_name}"


def refusal_text(error: PolicyBlocked) -> str:
    """What the agent reads instead of the tool's result: which policy refused, and why."""
    by = f"policy '{error.policy_name}'" if error.policy_name else "the default posture"
    return f"Corral refused this tool call ({by}): {error.message}"


def _outcome(decision: Decision) -> Outcome:
    if decision.action is Action.STEER:
        return Replace(decision.replacement)
    return Proceed()
