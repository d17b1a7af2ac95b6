"""Request and response bodies of the policies API. Never ORM rows on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corral.core.schemas import RequestBody

ActionName = Literal["block", "steer", "throttle", "log", "alert", "require_approval", "allow"]
PostureName = Literal["allow", "deny"]
ChangeKind = Literal["create", "update", "restore", "import", "delete"]

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_EXPRESSION_CHARS = 4096
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 200
MAX_ACTION_CONFIG_BYTES = 16_384
PRIORITY_BOUND = 1_000_000
MAX_BATCH = 100

Pattern = Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_CHARS)]


def _storable_config(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be stored: {exc}") from exc
    if len(encoded) > MAX_ACTION_CONFIG_BYTES:
        raise ValueError(f"is at most {MAX_ACTION_CONFIG_BYTES} bytes as JSON")
    return value


class PolicyFields(RequestBody):
    """A policy's definition: everything but its identity and history."""

    name: str = Field(
        min_length=1, max_length=MAX_NAME_CHARS, description="Unique per application."
    )
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)
    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION_CHARS,
        description="CEL over `name`, `attrs`, `args`, `now`; must be a bool.",
    )
    action: ActionName
    action_config: dict[str, Any] = Field(
        default_factory=dict, description="Per action: see docs/policy-engine.md."
    )
    priority: int = Field(
        0, ge=-PRIORITY_BOUND, le=PRIORITY_BOUND, description="Higher is evaluated first."
    )
    applies_to: list[Pattern] = Field(
        default_factory=list,
        max_length=MAX_PATTERNS,
        description="Call-name patterns such as `tool.*`; empty covers every call.",
    )
    enabled: bool = True
    shadow: bool = Field(False, description="Record what the policy would do; never enforce.")

    _config_size = field_validator("action_config")(_storable_config)


class PolicyUpdate(RequestBody):
    """The fields to change; absent fields keep their value."""

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_CHARS)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    expression: str | None = Field(None, min_length=1, max_length=MAX_EXPRESSION_CHARS)
    action: ActionName | None = None
    action_config: dict[str, Any] | None = None
    priority: int | None = Field(None, ge=-PRIORITY_BOUND, le=PRIORITY_BOUND)
    applies_to: list[Pattern] | None = Field(None, max_length=MAX_PATTERNS)
    enabled: bool | None = None
    shadow: bool | None = None

    @field_validator("action_config")
    @classmethod
    def _config_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _storable_config(value)

    @model_validator(mode="after")
    def _no_nulls(self) -> PolicyUpdate:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self


class PolicyRead(BaseModel):
    id: str
    application_id: str
    name: str
    description: str
    expression: str
    action: ActionName
    action_config: dict[str, Any]
    priority: int
    applies_to: list[str]
    enabled: bool
    shadow: bool
    version: int = Field(description="The latest version; send it as `If-Match` to PATCH.")
    created_at: datetime
    updated_at: datetime


class Author(BaseModel):
    type: str
    id: str | None


class PolicyVersionRead(BaseModel):
    policy_id: str
    version: int
    change: ChangeKind
    restored_from: int | None
    author: Author
    created_at: datetime
    snapshot: dict[str, Any] = Field(description="Every field of the policy after this change.")


class FieldChange(BaseModel):
    field: str
    before: Any
    after: Any


class PolicyDiff(BaseModel):
    policy_id: str
    from_version: int
    to_version: int
    changes: list[FieldChange]
    expression_diff: str = Field(description="Unified diff of the expression; empty if equal.")


class BatchRequest(RequestBody):
    operation: Literal["enable", "disable", "delete"]
    ids: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    operation: Literal["enable", "disable", "delete"]
    ids: list[str] = Field(description="The policies changed (unchanged ones are left out).")


class GovernanceSettingsRead(BaseModel):
    default_posture: PostureName


class GovernanceSettingsUpdate(RequestBody):
    default_posture: PostureName


class BundlePolicy(BaseModel):
    id: str
    name: str
    expression: str
    action: ActionName
    action_config: dict[str, Any]
    priority: int
    applies_to: list[str]
    enabled: bool
    shadow: bool


class BundleRead(BaseModel):
    """The enabled policies and posture an SDK or sidecar enforces. Ignore unknown keys."""

    application_id: str
    revision: str
    default_posture: PostureName
    policies: list[BundlePolicy]
    generated_at: datetime


class ImportedPolicy(BaseModel):
    index: int | None = Field(description="Position in the file; null for a deleted policy.")
    name: str
    id: str | None = Field(description="Null for a policy a dry run would create.")


class ImportResult(BaseModel):
    mode: Literal["merge", "replace"]
    dry_run: bool
    created: list[ImportedPolicy]
    updated: list[ImportedPolicy]
    unchanged: list[ImportedPolicy]
    deleted: list[ImportedPolicy] = Field(description="Replace mode: policies not in the file.")


class DecisionRequest(BaseModel):
    """A proposed call. NUL characters are accepted here: nothing of it is stored as sent."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=1000, description="The call name, e.g. `tool.shell` or `chat`."
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="The flat attribute map, e.g. `gen_ai.tool.name`, `corral.tool.args`.",
    )
    agent: str | None = Field(None, max_length=500)
    end_user: str | None = Field(None, max_length=500)


class DecisionResponse(BaseModel):
    decision_id: str | None = Field(
        description="The recorded evidence's id; null for a plain allow, which is not recorded."
    )
    action: ActionName
    policy_id: str | None = Field(description="Null when the default posture decided.")
    policy_name: str | None
    message: str | None
    replacement: Any = Field(None, description="steer: what to return instead of running.")
    retry_after_seconds: float | None = Field(description="throttle: when a token is due.")
    code: str | None = Field(
        None, description="`halted` when an active halt refused the call (before any policy)."
    )
    halt_id: str | None = Field(None, description="The halt that refused the call.")


class DecisionRead(BaseModel):
    """Evidence of one decision that was not a plain allow."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    decision_id: str
    source: Literal["api", "sdk", "sidecar"]
    call_name: str
    agent: str | None
    end_user: str | None
    action: ActionName
    policy_id: str | None
    policy_name: str | None
    message: str | None
    matched: list[dict[str, Any]] = Field(
        description="Policies that matched without deciding (log, alert, admitted throttle), "
        "and the deciding one."
    )
    shadow_policy_ids: list[str]
    errors: list[dict[str, Any]]
    trace_id: str | None
    span_id: str | None
    created_at: datetime
