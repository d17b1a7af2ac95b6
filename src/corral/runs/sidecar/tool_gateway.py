"""The sidecar's tool gateway: every tool call of a run is decided by the policy engine, then
performed (or not), and reported as a `tool_call` event.

The decision is the one `POST /api/decisions` makes, taken as the run: the call is named
`tool.<tool name>` and carries the attributes the SDK gives a guarded call (`gen_ai.tool.name`,
`corral.tool.args` as JSON text, the agent and end-user), with the run's trace, so a policy
treats a hosted tool call exactly like an external agent's. What is not a plain allow is
recorded as evidence. The actions mean what they mean in the SDK: block, throttle and
require_approval refuse (the tool never runs); steer answers with the policy's replacement
instead of running the tool; allow (with or without log and alert matches) runs it.

One gateway serves every run of the process; it holds no per-run state.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.agents.manifest import Tool
from corral.core.crypto import DecryptionFailed, EncryptionKeyring
from corral.core.db import READ_ONLY
from corral.core.egress.client import EgressClient
from corral.core.egress.errors import EgressError, EgressRefused
from corral.governance import decisions
from corral.governance.decisions import Decider, DecisionOutcome, ProposedCall
from corral.identity.access import run_scope
from corral.runs.sidecar.contracts import EventSink, SidecarRun, ToolOutcome
from corral.runs.sidecar.http_tools import (
    ToolRefused,
    build_call,
    check_arguments,
    perform,
    scrub,
)
from corral.runs.sidecar.tool_approvals import ApprovalGate, ApprovalsUnavailable
from corral.runs.sidecar.tool_credentials import (
    ToolCredentials,
    find_connection,
    tool_credentials,
)
from corral_sdk.call import proposed_call
from corral_sdk.policy import Action

_log = structlog.get_logger(__name__)

# What a run may do through its scope: ask for decisions. Connections are read by the gateway
# itself, narrowed to the run's application and end-user.
RUN_PERMISSIONS = frozenset({"decisions:write"})


@dataclass(slots=True)
class _Report:
    """What the `tool_call` event says about one call, filled in as the call proceeds."""

    decision: dict[str, Any] | None = None
    http_status: int | None = None
    secrets: tuple[str, ...] = ()


@asynccontextmanager
async def _reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    # Read-only: on SQLite it takes no write lock, so the decision's evidence (written in a
    # transaction of its own) does not wait behind it.
    async with sessions() as session, session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        yield session


def _refused(code: str, message: str, **details: Any) -> ToolOutcome:
    return ToolOutcome("refused", {"code": code, **details}, message)


def _failed(code: str, message: str) -> ToolOutcome:
    return ToolOutcome("error", {"code": code}, message)


def _decision_data(outcome: DecisionOutcome) -> dict[str, Any]:
    decision = outcome.decision
    return {
        "action": decision.action.value,
        "policy_id": decision.policy_id,
        "policy_name": decision.policy_name,
        "message": decision.message,
        "decision_id": outcome.decision_id,
    }


class HttpToolGateway:
    """The `ToolGateway` of hosted runs: policy decision, then the `http` tool through egress."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        keyring: EncryptionKeyring,
        decider: Decider,
        egress: EgressClient,
        approvals: ApprovalGate | None = None,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._decider = decider
        self._egress = egress
        self._approvals = approvals or ApprovalsUnavailable()

    async def call(
        self, run: SidecarRun, tool: str, arguments: dict[str, Any], sink: EventSink
    ) -> ToolOutcome:
        started = time.time_ns()
        report = _Report()
        spec = next((t for t in run.manifest.tools if t.name == tool), None)
        if spec is None:
            outcome = _refused("unknown_tool", f"the agent has no tool named {tool!r}")
        else:
            try:
                outcome = await self._decide_and_perform(run, spec, arguments, report, sink)
            except Exception:  # noqa: BLE001 — the agent still gets an answer, the run its event
                # The cause is logged, not shown to the agent.
                _log.exception("tool.failed", run_id=run.run_id, tool=tool)
                outcome = _failed("tool_failed", "the tool call failed inside Corral")
        outcome = ToolOutcome(
            outcome.status,
            scrub(outcome.result, report.secrets),
            scrub(outcome.message, report.secrets),
        )
        await sink.emit("tool_call", self._event(tool, arguments, started, report, outcome))
        return outcome

    async def _decide_and_perform(
        self,
        run: SidecarRun,
        tool: Tool,
        arguments: dict[str, Any],
        report: _Report,
        sink: EventSink,
    ) -> ToolOutcome:
        decided = await self._decide(run, tool.name, arguments)
        report.decision = _decision_data(decided)
        decision = decided.decision
        action = decision.action
        if decided.halt is not None:
            return _refused("halted", decision.message or "halted", halt_id=decided.halt.id)
        if action is Action.BLOCK:
            return _refused("policy_blocked", decision.message or "blocked by policy")
        if action is Action.THROTTLE:
            retry = decision.retry_after_seconds
            later = f"; retry after {retry:g} seconds" if retry is not None else ""
            return _refused(
                "throttled",
                (decision.message or "throttled by policy") + later,
                retry_after_seconds=retry,
            )
        if action is Action.REQUIRE_APPROVAL:
            answer = await self._approvals.wait(run, tool.name, arguments, decided, sink)
            if not answer.approved:
                return _refused(answer.code, answer.message or "this call requires an approval")
        if action is Action.STEER:
            # As the SDK's guard does: the replacement is the call's result; the tool never runs.
            return ToolOutcome("ok", decision.replacement, decision.message)
        return await self._perform(run, tool, arguments, report)

    async def _decide(
        self, run: SidecarRun, tool: str, arguments: Mapping[str, Any]
    ) -> DecisionOutcome:
        proposed = proposed_call(
            f"tool.{tool}",
            args=arguments,
            attributes=None,
            agent=run.agent_name,
            end_user=run.end_user_id,
        )
        scope = run_scope(
            run_id=run.run_id,
            org_id=run.org_id,
            application_id=run.application_id,
            end_user_id=run.end_user_id,
            permissions=RUN_PERMISSIONS,
        )
        call = ProposedCall(
            proposed.name,
            proposed.attributes,
            agent=run.agent_name,
            end_user=run.end_user_id,
            trace_id=run.trace_id or None,
            span_id=run.root_span_id or None,
        )
        async with _reading(self._sessions) as session:
            return await decisions.decide(session, scope, self._decider, call)

    async def _credentials(self, run: SidecarRun, reference: str) -> ToolCredentials:
        async with _reading(self._sessions) as session:
            connection = await find_connection(session, run, reference)
            if connection is None:
                raise ToolRefused(
                    f"the connection {reference!r} does not exist for this run",
                    code="connection_not_found",
                )
            return tool_credentials(self._keyring, connection)

    async def _perform(
        self, run: SidecarRun, tool: Tool, arguments: dict[str, Any], report: _Report
    ) -> ToolOutcome:
        try:
            check_arguments(tool, arguments)
            credentials = None
            if tool.connection is not None:
                credentials = await self._credentials(run, tool.connection)
                report.secrets = credentials.secrets
            call = build_call(tool, arguments, credentials)
            result = await perform(self._egress, call, credentials)
        except ToolRefused as refusal:
            return _refused(refusal.code, refusal.message)
        except DecryptionFailed:
            return _failed(
                "connection_unusable", "the connection's credentials cannot be decrypted"
            )
        except EgressRefused as refusal:
            return _refused(refusal.code, refusal.detail)
        except EgressError as failure:
            return _failed(failure.code, failure.detail)
        report.http_status = result["status"]
        return ToolOutcome("ok", result)

    def _event(
        self,
        tool: str,
        arguments: dict[str, Any],
        started: int,
        report: _Report,
        outcome: ToolOutcome,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "tool": tool,
            "arguments": scrub(arguments, report.secrets),
            "started_at_ns": started,
            "ended_at_ns": time.time_ns(),
            "decision": report.decision,
            "status": outcome.status,
        }
        if report.http_status is not None:
            event["http_status"] = report.http_status
        if outcome.status != "ok" and outcome.message:
            event["error"] = outcome.message
        if isinstance(outcome.result, dict) and outcome.status != "ok":
            event["code"] = outcome.result.get("code")
        return event
