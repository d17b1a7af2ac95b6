"""What every request body of the API has in common."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def refuse_nul(value: Any) -> Any:
    """Refuse NUL characters anywhere in a value, keys of nested objects included."""
    # PostgreSQL text cannot hold NUL; refusing it at the edge keeps the tiers identical.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)
    elif isinstance(value, list):
        for item in value:
            refuse_nul(item)
    return value


class RequestBody(BaseModel):
    """A JSON request body: unknown fields are an error, and no string may hold NUL."""

    model_config = ConfigDict(extra="forbid")

    _refuse_nul = field_validator("*", mode="before")(refuse_nul)
