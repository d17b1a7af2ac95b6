"""What the executor, the sidecar and its gateways agree on.

A sidecar serves one run. The executor gives it a `SidecarRun` (everything the run may use,
secrets resolved server-side) and an `EventSink`; the gateways report what happened as events,
and the executor turns those events into the run log, usage, cost and spans. Nothing here is
ever sent into the sandbox except `Assignment`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from corral.agents.manifest import Manifest

# The HTTP paths the in-sandbox runtime calls on its sidecar (over the unix socket). The runtime
# cannot import corral, so `corral.runtime.protocol` repeats these; a test keeps them equal.
ASSIGNMENT_PATH = "/corral/v1/assignment"
LOG_PATH = "/corral/v1/log"
OUTPUT_PATH = "/corral/v1/output"
ERROR_PATH = "/corral/v1/error"
TOOL_PATH_PREFIX = "/corral/v1/tools/"
MODEL_BASE_PATH = "/v1"

EventKind = Literal[
    "log",
    "model_call",
    "tool_call",
    "output",
    "runtime_error",
    "approval.waiting",
    "approval.resolved",
]


@dataclass(frozen=True, slots=True)
class AssignedTool:
    """A tool as the model sees it: its name, description and JSON Schema of arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Assignment:
    """The only run data that enters the sandbox (`GET /corral/v1/assignment`)."""

    run_id: str
    model: str
    prompt: str
    skills: tuple[str, ...]
    input: dict[str, Any]
    output_schema: dict[str, Any] | None
    tools: tuple[AssignedTool, ...]
    timeout_seconds: int


@dataclass(frozen=True, slots=True)
class SidecarRun:
    """What a sidecar knows about its run. Server-side only."""

    run_id: str
    org_id: str
    application_id: str
    agent_id: str | None
    agent_name: str
    end_user_id: str | None
    trace_id: str
    manifest: Manifest
    assignment: Assignment
    # The span id of the run's root span: model and tool spans are its children.
    root_span_id: str = field(default="")


class EventSink(Protocol):
    """Where a sidecar reports what happened during its run.

    Event data, by kind (times are Unix nanoseconds):
    - `log`: {"level": "info"|"warning"|"error", "message": str}
    - `model_call`: {"provider", "model", "started_at_ns", "ended_at_ns", "input_tokens",
      "output_tokens", "cost_usd" (float | None), "status": "ok"|"error", "error"?: str,
      "stream": bool}
    - `tool_call`: {"tool", "arguments", "started_at_ns", "ended_at_ns", "decision":
      {"action", "policy_id", "policy_name", "message", "decision_id"},
      "status": "ok"|"refused"|"error", "http_status"?: int, "error"?: str}
    - `output`: {"output": Any}
    - `runtime_error`: {"code": str, "message": str}
    - `approval.waiting`: a tool call is held for approval: {"approval_id", "tool", "policy_id",
      "policy_name", "approvers_required", "expires_at", …}
    - `approval.resolved`: its answer: the same, with "status" approved|denied|expired
    """

    async def emit(self, kind: EventKind, data: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """The answer the runtime gets for a tool call: a result, or a refusal the model reads."""

    status: Literal["ok", "refused", "error"]
    result: Any = None
    message: str | None = None


class ModelGateway(Protocol):
    """The OpenAI-compatible model endpoint of a sidecar."""

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]: ...

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]: ...

    def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        """Server-sent event bytes in OpenAI's streaming format, ending with `data: [DONE]`."""
        ...


class ToolGateway(Protocol):
    """Decides (policy engine) and performs one tool call of a run."""

    async def call(
        self, run: SidecarRun, tool: str, arguments: dict[str, Any], sink: EventSink
    ) -> ToolOutcome: ...
