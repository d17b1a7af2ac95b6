"""Bodies of the policy analysis API: templates, the conflict report, simulation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corral.governance.schemas import MAX_BATCH, ActionName, PolicyFields, PolicyUpdate

MAX_SIMULATED_CALLS = 10_000
MAX_SAMPLES = 100
SpanCategory = Literal["tool", "llm", "agent", "other"]


def _calls() -> list[SpanCategory]:
    return ["tool", "llm"]


class OwaspRisk(BaseModel):
    id: str
    title: str


class TemplateRead(BaseModel):
    id: str
    name: str
    description: str
    category: str
    owasp: list[OwaspRisk]
    expression: str
    action: ActionName
    action_config: dict[str, Any]
    applies_to: list[str]
    priority: int


class FromTemplate(PolicyUpdate):
    """Fields to use instead of the template's; absent ones come from the template."""


class ConflictRead(BaseModel):
    kind: str = Field(description="invalid, duplicate, contradiction, shadowed, …")
    severity: Literal["error", "warning", "info"]
    policy_ids: list[str] = Field(description="In evaluation order; the policy at fault last.")
    policy_names: list[str | None]
    message: str


class ConflictReport(BaseModel):
    policies: int = Field(description="How many enabled policies were analyzed.")
    conflicts: list[ConflictRead]


class SimulationRequest(BaseModel):
    """A draft policy, or stored policies by id, replayed over the application's recent spans."""

    model_config = ConfigDict(extra="forbid")

    policy: PolicyFields | None = Field(None, description="A draft, not stored.")
    policy_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, min_length=1, max_length=MAX_BATCH, description="Stored policies."
    )
    with_current: bool = Field(
        False,
        description="With a draft: also apply the application's enabled policies (the draft "
        "replaces the one with its name), to see what the change does to the whole set.",
    )
    since: datetime | None = Field(None, description="Default: 24 hours before `until`.")
    until: datetime | None = Field(None, description="Default: now.")
    categories: list[SpanCategory] = Field(default_factory=_calls, min_length=1, max_length=4)
    agent: str | None = Field(None, max_length=500)
    limit: int = Field(1000, ge=1, le=MAX_SIMULATED_CALLS, description="Most recent spans read.")
    sample_limit: int = Field(20, ge=0, le=MAX_SAMPLES)

    @model_validator(mode="after")
    def _one_subject(self) -> SimulationRequest:
        if (self.policy is None) == (self.policy_ids is None):
            raise ValueError("give either `policy` (a draft) or `policy_ids`")
        if self.with_current and self.policy is None:
            raise ValueError("`with_current` applies to a draft `policy`")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self


class SimulatedDecision(BaseModel):
    action: ActionName
    policy_id: str | None
    policy_name: str | None
    message: str | None
    by_default: bool
    matched_policy_ids: list[str]
    shadow_policy_ids: list[str]
    error_policy_ids: list[str]


class SimulatedSpan(BaseModel):
    trace_id: str
    span_id: str
    call_name: str
    start_time: datetime
    agent: str | None
    end_user: str | None
    attributes: dict[str, Any] = Field(description="As stored: after redaction.")


class SimulationSampleRead(BaseModel):
    span: SimulatedSpan
    decision: SimulatedDecision


class SimulationErrorRead(BaseModel):
    span: SimulatedSpan
    policy_id: str | None
    reason: str


class SimulationRead(BaseModel):
    since: datetime
    until: datetime
    total: int = Field(description="Spans replayed.")
    matched: int = Field(description="Spans at least one of the policies matched.")
    errored: int
    match_rate: float
    truncated: bool = Field(description="More spans were in the window than `limit`.")
    by_action: dict[str, int]
    by_policy: dict[str, int] = Field(description="Matches per policy id (`draft` for a draft).")
    samples: list[SimulationSampleRead]
    error_samples: list[SimulationErrorRead]
    problems: list[dict[str, Any]]
    uses_redacted_data: bool = Field(
        True, description="Spans are stored redacted; a policy on a secret sees the mask."
    )
