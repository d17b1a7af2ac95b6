"""Request and response bodies of the halts API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corral.core.schemas import RequestBody

HaltScope = Literal["application", "agent", "end_user", "model", "run"]
HaltState = Literal["halted", "paused"]
HaltSource = Literal["operator", "budget"]


class HaltCreate(RequestBody):
    scope: HaltScope
    scope_value: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="The agent name, end-user (id or external id), model or run id; absent for "
        "`application`.",
    )
    reason: str = Field(min_length=1, max_length=1024)
    state: HaltState = Field(
        "halted",
        description="`halted` refuses new runs and calls and stops running hosted runs; "
        "`paused` refuses new runs and calls but lets running runs go on.",
    )

    @model_validator(mode="after")
    def _value_matches_scope(self) -> HaltCreate:
        if self.scope == "application" and self.scope_value is not None:
            raise ValueError("an application halt takes no scope_value")
        if self.scope != "application" and self.scope_value is None:
            raise ValueError(f"a {self.scope} halt needs a scope_value")
        return self


class HaltClear(RequestBody):
    reason: str | None = Field(None, max_length=1024)


class HaltRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    scope: HaltScope
    scope_value: str
    end_user_external_id: str | None
    state: HaltState
    reason: str
    source: HaltSource
    budget_id: str | None
    created_by: str
    created_at: datetime
    cleared_at: datetime | None
    cleared_by: str | None
    active: bool


class ActiveHalt(BaseModel):
    """A halt as SDKs enforce it."""

    id: str
    scope: HaltScope
    scope_value: str
    end_user_external_id: str | None
    state: HaltState
    reason: str


class ActiveHalts(BaseModel):
    revision: str = Field(description="Changes whenever the set of active halts changes; the ETag.")
    halts: list[ActiveHalt]
