"""The domain error hierarchy.

Services raise these; `corral.api.errors` is the one place that turns them into HTTP responses.
Each error carries a stable machine-readable `code` that clients may rely on.

    CorralError
    ├── ConfigError              the server's configuration is unusable
    ├── InvalidInput             the caller sent something we refuse (→ 422 / 400)
    │   ├── InvalidDefinition    a definition that does not compile, with its problems (→ 400)
    │   ├── UnsupportedMediaType a body in a format the endpoint does not read (→ 415)
    │   └── PayloadTooLarge      (→ 413)
    ├── Unauthenticated          no or bad credentials (→ 401)
    ├── PermissionDenied         authenticated but not allowed (→ 403)
    ├── NotFound                 absent, or belongs to another tenant (→ 404)
    ├── Conflict                 clashes with the current state (→ 409)
    ├── PreconditionFailed       a conditional request's condition does not hold (→ 412)
    ├── RateLimited              too many requests (→ 429)
    └── Unavailable              a dependency is down (→ 503)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CorralError(Exception):
    """Base of every error Corral raises on purpose."""

    code: str = "error"
    title: str = "Error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra: dict[str, Any] = dict(extra or {})


class ConfigError(CorralError):
    code = "config_error"
    title = "Invalid configuration"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Corral cannot start with this configuration:\n{listing}")


class InvalidInput(CorralError):
    code = "invalid_input"
    title = "Invalid input"


class InvalidDefinition(InvalidInput):
    """A definition (a policy, …) that does not compile; `extra["problems"]` lists each one."""

    code = "invalid_definition"
    title = "Invalid definition"


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"
    title = "Unsupported media type"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    title = "Payload too large"


class Unauthenticated(CorralError):
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDenied(CorralError):
    code = "permission_denied"
    title = "Permission denied"


class NotFound(CorralError):
    code = "not_found"
    title = "Not found"

    def __init__(self, resource: str, *, code: str | None = None) -> None:
        super().__init__(f"{resource} not found", code=code)
        self.resource = resource


class Conflict(CorralError):
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(CorralError):
    code = "precondition_failed"
    title = "Precondition failed"


class RateLimited(CorralError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: float, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(CorralError):
    code = "unavailable"
    title = "Service unavailable"
