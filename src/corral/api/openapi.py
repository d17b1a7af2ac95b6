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


def problem_response(description: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {"application/problem+json": {}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem_response("Malformed request."),
    401: problem_response("Missing or invalid credentials."),
    403: problem_response("Authenticated but not allowed."),
    404: problem_response("Not found, or owned by another tenant."),
    409: problem_response("Conflicts with the current state."),
    413: problem_response("Body too large."),
    422: problem_response("Invalid input."),
    429: problem_response("Rate limited; see Retry-After."),
}
