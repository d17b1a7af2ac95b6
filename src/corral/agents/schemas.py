"""Request and response bodies of the agents API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from corral.agents.manifest import MAX_PROMPT_CHARS, Manifest
from corral.core.schemas import RequestBody


class AgentPackage(RequestBody):
    """A manifest and its prompt (`prompt.md`)."""

    manifest: Manifest
    prompt: str = Field(max_length=MAX_PROMPT_CHARS, description="The agent's prompt.md.")


class AgentCreate(AgentPackage):
    publish: bool = Field(
        True,
        description="Also publish the manifest's version at once; false keeps it as the draft.",
    )


class DraftRead(BaseModel):
    manifest: dict[str, Any]
    prompt: str


class AgentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    latest_version: str | None = Field(description="The newest published version, if any.")
    created_at: datetime
    updated_at: datetime


class AgentRead(AgentSummary):
    draft: DraftRead


class AgentVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    version: str
    digest: str = Field(description="SHA-256 of the canonical manifest and prompt.")
    created_at: datetime


class AgentVersionRead(AgentVersionSummary):
    manifest: dict[str, Any]
    prompt: str


class ImportResult(BaseModel):
    agent: AgentRead
    created: bool = Field(description="Whether the import created the agent (else: its draft).")
    published_version: str | None
