"""Request and response bodies of the runs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from corral.core.schemas import RequestBody

RunStatus = Literal["queued", "running", "succeeded", "failed", "timed_out", "cancelled"]


class InlineAgent(RequestBody):
    """An agent given in the request itself: checked against the inline run limits."""

    manifest: dict[str, Any] = Field(description="An agent manifest, as for POST /api/agents.")
    prompt: str = Field(description="The agent's prompt.md.")


class RunCreate(RequestBody):
    """Run an installed agent (`agent`, optionally `version`) or an inline one (`inline`)."""

    agent: str | None = Field(
        None, min_length=1, max_length=64, description="The agent's id (`agt_…`) or name."
    )
    version: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="A published version, or `draft`; the newest published version when absent.",
    )
    inline: InlineAgent | None = None
    input: dict[str, Any] = Field(default_factory=dict, description="Checked against the schema.")
    end_user: str | None = Field(
        None, min_length=1, max_length=40, description="The end-user the run acts for (`eu_…`)."
    )

    @model_validator(mode="after")
    def _one_agent(self) -> RunCreate:
        if (self.agent is None) == (self.inline is None):
            raise ValueError("give exactly one of `agent` or `inline`")
        if self.inline is not None and self.version is not None:
            raise ValueError("`version` belongs to an installed agent, not an inline one")
        return self


class RunError(BaseModel):
    code: str
    message: str
    details: Any = None


class RunRead(BaseModel):
    id: str
    status: RunStatus
    agent_id: str | None
    agent_name: str
    agent_version: str | None
    inline: bool
    end_user_id: str | None
    input: dict[str, Any]
    output: Any
    error: RunError | None
    usage: dict[str, Any] = Field(
        description="Token counts: input_tokens, output_tokens, model_calls, tool_calls."
    )
    cost_usd: float
    trace_id: str
    timeout_seconds: int
    schedule_id: str | None
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunEventRead(BaseModel):
    seq: int
    at: datetime
    kind: str
    data: dict[str, Any]


class RunLogPage(BaseModel):
    data: list[RunEventRead]
    next_cursor: int = Field(
        description="Pass as `after` to read on; the last sequence number seen (0 when none)."
    )
    status: RunStatus
    terminal: bool = Field(description="Whether the run has ended (no more events will come).")
