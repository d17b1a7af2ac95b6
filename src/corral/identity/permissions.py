"""Roles, permissions and API key scopes: one vocabulary of `resource:action` strings.

A role grants a set of permissions inside an organization. An API key holds scopes, which are
the same strings; a key may only hold scopes that its creator's role grants, and only those that
make sense for a key bound to one application (`KEY_SCOPES`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


ORG_PERMISSIONS: Final = frozenset(
    {
        "org:read",
        "org:write",
        "org:delete",
        "members:read",
        "members:write",
        "invitations:read",
        "invitations:write",
        "apps:write",
    }
)

KEY_SCOPES: Final = frozenset(
    {
        "apps:read",
        "api_keys:read",
        "api_keys:write",
        "end_users:read",
        "end_users:write",
        "traces:read",
        "traces:write",
        "policies:read",
        "policies:write",
        "decisions:write",
        "agents:read",
        "agents:write",
        "connections:read",
        "connections:write",
        "providers:read",
        "providers:write",
        "runs:read",
        "runs:write",
        "schedules:read",
        "schedules:write",
        "approvals:read",
        "halts:read",
        "halts:write",
        "budgets:read",
        "budgets:write",
        "webhooks:read",
        "webhooks:write",
        "audit:read",
        "settings:read",
        "settings:write",
    }
)

# Permissions only a signed-in person can hold, never an API key: approving a held call is a
# human's decision by definition.
USER_ONLY_PERMISSIONS: Final = frozenset({"approvals:decide"})

ALL_PERMISSIONS: Final = ORG_PERMISSIONS | KEY_SCOPES | USER_ONLY_PERMISSIONS

_READS = frozenset(p for p in ALL_PERMISSIONS if p.endswith(":read"))

ROLE_PERMISSIONS: Final[dict[Role, frozenset[str]]] = {
    Role.OWNER: ALL_PERMISSIONS,
    Role.ADMIN: ALL_PERMISSIONS - {"org:delete"},
    Role.MEMBER: _READS
    | {
        "api_keys:write",
        "end_users:write",
        "traces:write",
        "decisions:write",
        "agents:write",
        "runs:write",
        "schedules:write",
        "approvals:decide",
        # Anyone who may start runs may stop them: members can pull the kill switch.
        "halts:write",
    },
    Role.VIEWER: _READS - {"audit:read", "settings:read", "api_keys:read", "invitations:read"},
}

# What each scope allows, for the documentation and the API's scope listing.
SCOPE_DESCRIPTIONS: Final[dict[str, str]] = {
    "apps:read": "Read the key's application.",
    "api_keys:read": "List the application's API keys (never their secrets).",
    "api_keys:write": "Create, rotate and revoke API keys with at most the caller's scopes.",
    "end_users:read": "Read end-users.",
    "end_users:write": "Create, update and delete end-users.",
    "traces:read": "Query traces and spans.",
    "traces:write": "Send OTLP traces to /v1/traces.",
    "policies:read": "Read policies and download the policy bundle.",
    "policies:write": "Create, change and delete policies.",
    "decisions:write": "Ask for policy decisions (POST /api/decisions).",
    "agents:read": "Read agents and their versions.",
    "agents:write": "Create and publish agents.",
    "connections:read": "Read connections (never their credentials).",
    "connections:write": "Create, change and delete connections and their credentials.",
    "providers:read": "Read model providers (never their keys).",
    "providers:write": "Create, change and delete the application's model providers and keys.",
    "runs:read": "Read runs, their logs and events.",
    "runs:write": "Start and cancel runs.",
    "schedules:read": "Read schedules and preview their fire times.",
    "schedules:write": "Create, change, switch on and off, and delete schedules.",
    "approvals:read": "List and read every approval request of the application (a key with "
    "decisions:write reads the requests it made itself without it).",
    "halts:read": "Read halts (the active ones are also readable with policies:read).",
    "halts:write": "Halt and pause the application, agents, end-users, models and runs; clear "
    "halts.",
    "budgets:read": "Read budgets, their usage and forecasts.",
    "budgets:write": "Create, change and delete budgets.",
    "webhooks:read": "Read webhook endpoints and their deliveries (never their secrets).",
    "webhooks:write": "Manage webhook endpoints, rotate their secrets, replay deliveries.",
    "audit:read": "Read and verify the audit log.",
    "settings:read": "Read application settings.",
    "settings:write": "Change application settings.",
}


def permissions_for(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS[Role(role)]


def role_at_least(role: str, floor: Role) -> bool:
    order = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]
    return order.index(Role(role)) >= order.index(floor)
