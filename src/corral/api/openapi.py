"""Shared pieces of the OpenAPI document: the problem+json body and the error responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    request_id: str | None


def _problem(description: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {"application/problem+json": {}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed request."),
    401: _problem("Missing or invalid credentials."),
    403: _problem("Authenticated but not allowed."),
    404: _problem("Not found, or owned by another tenant."),
    409: _problem("Conflicts with the current state."),
    413: _problem("Body too large."),
    422: _problem("Invalid input."),
    429: _problem("Rate limited; see Retry-After."),
}
