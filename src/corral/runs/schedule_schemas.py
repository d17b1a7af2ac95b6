"""Request and response bodies of the schedules API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corral.core.schemas import RequestBody
from corral.runs import cron

MAX_PREVIEW = 100

ScheduleName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:-]*$")
]
AgentReference = Annotated[
    str, Field(min_length=1, max_length=64, description="The agent's id (`agt_…`) or name.")
]
AgentVersionField = Annotated[
    str | None,
    Field(
        max_length=100,
        description="A published version to run; null runs the newest published version at "
        "each fire time.",
    ),
]
CronField = Annotated[
    str,
    Field(
        max_length=cron.MAX_CRON_CHARS,
        description="Five fields: minute hour day-of-month month day-of-week (e.g. "
        "`0 9 * * 1-5`), or a macro such as `@daily`; read on the wall clock of `timezone`.",
    ),
]
TimezoneField = Annotated[
    str, Field(max_length=64, description="An IANA time zone, e.g. `Europe/Paris`.")
]


def _cron(value: str | None) -> str | None:
    return None if value is None else cron.check_cron(value)


def _timezone(value: str | None) -> str | None:
    if value is not None:
        cron.check_timezone(value)
    return value


class ScheduleCreate(RequestBody):
    name: ScheduleName
    agent: AgentReference
    agent_version: AgentVersionField = None
    cron: CronField
    timezone: TimezoneField = "UTC"
    input: dict[str, Any] = Field(
        default_factory=dict, description="The input of every run, valid for the agent's schema."
    )
    enabled: bool = True
    end_user: str | None = Field(
        None,
        max_length=40,
        description="Run as this end-user (`eu_…`); a key acting as an end-user may only name "
        "itself, and defaults to it.",
    )

    _check_cron = field_validator("cron")(_cron)
    _check_timezone = field_validator("timezone")(_timezone)


class ScheduleUpdate(RequestBody):
    """Only the fields sent change; `enabled` switches the schedule on and off."""

    name: ScheduleName | None = None
    agent: AgentReference | None = None
    agent_version: AgentVersionField = None
    cron: CronField | None = None
    timezone: TimezoneField | None = None
    input: dict[str, Any] | None = None
    enabled: bool | None = None

    _check_cron = field_validator("cron")(_cron)
    _check_timezone = field_validator("timezone")(_timezone)

    @field_validator("name", "agent", "cron", "timezone", "input", "enabled")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted, but not null")
        return value


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    agent_id: str
    agent_version: str | None
    cron: str
    timezone: str
    input: dict[str, Any]
    enabled: bool
    end_user_id: str | None
    next_run_at: datetime | None = Field(description="The next window; null while disabled.")
    last_run_at: datetime | None = Field(description="The window of the last run created.")
    last_run_id: str | None
    created_at: datetime
    updated_at: datetime


class FireTime(BaseModel):
    at: datetime = Field(description="The instant, in UTC.")
    local: datetime = Field(description="The same instant on the schedule's wall clock.")


class SchedulePreview(BaseModel):
    schedule_id: str
    cron: str
    timezone: str
    fire_times: list[FireTime]
