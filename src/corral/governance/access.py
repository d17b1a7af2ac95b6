"""Who may change policies."""

from __future__ import annotations

from corral.core.errors import PermissionDenied
from corral.identity.access import AppScope


def require_writer(scope: AppScope) -> None:
    """Policies are the application's, never one end-user's: impersonating keys cannot write."""
    scope.require("policies:write")
    if scope.end_user_id is not None:
        raise PermissionDenied(
            "acting as an end-user, you cannot change policies", code="impersonation_forbidden"
        )
