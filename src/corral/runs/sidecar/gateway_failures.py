"""What a gateway's failure looks like to the sandbox: a status and a message safe to show it.

Domain errors (`corral.core.errors`) carry messages written for callers and pass through, as do
errors that carry their own OpenAI-shaped answer (`status` and `body`, as the model gateway's);
anything else is reported without detail, since an upstream exception may quote a URL or a header.
"""

from __future__ import annotations

import structlog

from corral.core.errors import (
    Conflict,
    CorralError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from corral.runs.sidecar.http_io import HTTPProblem

_log = structlog.get_logger(__name__)

_STATUS: tuple[tuple[type[CorralError], int, str], ...] = (
    (PayloadTooLarge, 413, "invalid_request_error"),
    (InvalidInput, 400, "invalid_request_error"),
    # The sandbox never authenticates: a credential problem is the upstream's, not the agent's.
    (Unauthenticated, 502, "api_error"),
    (PermissionDenied, 403, "permission_error"),
    (NotFound, 404, "not_found_error"),
    (Conflict, 409, "conflict_error"),
    (RateLimited, 429, "rate_limit_error"),
    (Unavailable, 503, "api_error"),
)


def _shaped(exc: Exception) -> HTTPProblem | None:
    """An error that already carries its answer: `status` and an OpenAI-shaped `body`.

    The model gateway raises these with the provider's status and a key-free message.
    """
    status, body = getattr(exc, "status", None), getattr(exc, "body", None)
    if not isinstance(status, int) or not 400 <= status <= 599 or not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    return HTTPProblem(
        status,
        str(error.get("code") or "model_error"),
        str(error.get("message") or "the model call failed"),
        str(error.get("type") or "api_error"),
    )


def problem_for(exc: Exception, *, what: str) -> HTTPProblem:
    """`what` names the failed operation for the generic message ("the model call")."""
    if isinstance(exc, HTTPProblem):
        return exc
    if (shaped := _shaped(exc)) is not None:
        return shaped
    if isinstance(exc, CorralError):
        for error_type, status, kind in _STATUS:
            if isinstance(exc, error_type):
                return HTTPProblem(status, exc.code, exc.detail, kind)
        return HTTPProblem(400, exc.code, exc.detail)
    _log.error("sidecar.gateway_failed", operation=what, error_type=type(exc).__name__)
    return HTTPProblem(502, "gateway_failed", f"{what} failed inside the sidecar", "api_error")
