"""Run limits: strict JSON documents in `CORRAL_PLATFORM_RUN_LIMITS` and `CORRAL_INLINE_RUN_LIMITS`.

A key that is not documented here fails boot: a misspelled limit must never be silently ignored
(a typo in `max_concurrent_per_org` would otherwise leave the platform unlimited).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PlatformRunLimits(_Strict):
    """Limits on every run of every organization."""

    timeout_ceiling_seconds: int = Field(1800, ge=1, le=86_400)
    per_org_global_rate_per_min: int = Field(200, ge=1)
    max_concurrent_per_org: int = Field(50, ge=1)
    memory_mb_ceiling: int = Field(2048, ge=64, le=65_536)
    default_memory_mb: int = Field(512, ge=64, le=65_536)
    cpu_seconds_ceiling: int = Field(1800, ge=1, le=86_400)
    max_processes_ceiling: int = Field(256, ge=8, le=4096)
    default_max_processes: int = Field(64, ge=8, le=4096)


class InlineRunLimits(_Strict):
    """Limits on inline runs (manifest and prompt in the request), which skip agent review."""

    rate_per_min: int = Field(60, ge=1)
    manifest_bytes: int = Field(65_536, ge=256)
    prompt_bytes: int = Field(200_000, ge=1)
    max_skills: int = Field(20, ge=0)
    max_tools: int = Field(20, ge=0)
    max_authorized_uris: int = Field(50, ge=0)
    wildcard_uri_allowed: bool = False
    retention_days: int = Field(30, ge=0, le=36_500)
