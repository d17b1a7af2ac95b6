"""What a `require_approval` policy's `action_config` asks of a request, with its defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from corral_sdk.policy.actions import (
    APPROVER_ROLES,
    DEFAULT_APPROVAL_TIMEOUT_SECONDS,
    MAX_APPROVAL_TIMEOUT_SECONDS,
    MAX_APPROVERS,
)


@dataclass(frozen=True, slots=True)
class ApprovalTerms:
    approvers_required: int = 1
    timeout_seconds: float = DEFAULT_APPROVAL_TIMEOUT_SECONDS
    on_timeout: str = "deny"
    approver_role: str = "member"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ApprovalTerms:
        """The terms of a config the engine already validated; stray values fall back to the
        strict side (one more approver is never fewer, deny is never allow)."""
        approvers = config.get("approvers_required", 1)
        if isinstance(approvers, bool) or not isinstance(approvers, int):
            approvers = 1
        timeout = config.get("timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            timeout = DEFAULT_APPROVAL_TIMEOUT_SECONDS
        role = config.get("approver_role", "member")
        return cls(
            approvers_required=min(max(approvers, 1), MAX_APPROVERS),
            timeout_seconds=min(float(timeout), MAX_APPROVAL_TIMEOUT_SECONDS),
            on_timeout="allow" if config.get("on_timeout") == "allow" else "deny",
            approver_role=role if role in APPROVER_ROLES else "owner",
        )
