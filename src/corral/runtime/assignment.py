"""The run as the runtime receives it from `GET /corral/v1/assignment`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AssignedTool(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class Assignment(BaseModel):
    """Mirrors `corral.runs.sidecar.contracts.Assignment`; unknown keys are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    model: str = Field(min_length=1)
    prompt: str
    skills: tuple[str, ...] = ()
    input: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    tools: tuple[AssignedTool, ...] = ()
    timeout_seconds: int = Field(gt=0)
