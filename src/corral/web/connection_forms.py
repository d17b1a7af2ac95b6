"""A connection's credential as form fields: one secret field whatever the auth type, beside
the header or parameter name (header, query) or the user name (basic)."""

from __future__ import annotations

from typing import Any

AUTH_TYPES: tuple[tuple[str, str], ...] = (
    ("bearer", "Bearer token (Authorization: Bearer …)"),
    ("header", "Header (e.g. X-Api-Key)"),
    ("query", "Query parameter (e.g. ?api_key=)"),
    ("basic", "Basic (user name and password)"),
)
# Which schema field of each auth type holds the secret.
_SECRET_FIELD = {"header": "value", "query": "value", "bearer": "token", "basic": "password"}


def auth_body(auth_type: str, name: str, username: str, secret: str) -> dict[str, Any]:
    """The API's `auth` object from the form; the schema checks it (an unknown type too)."""
    body: dict[str, Any] = {"type": auth_type, _SECRET_FIELD.get(auth_type, "value"): secret}
    if auth_type in ("header", "query"):
        body["name"] = name
    if auth_type == "basic":
        body["username"] = username
    return body


def auth_fields(auth_type: str, params: dict[str, Any]) -> dict[str, str]:
    """What may be shown of a stored credential: its kind and the name it is sent under."""
    label = dict(AUTH_TYPES).get(auth_type, auth_type).split(" (")[0]
    return {
        "type": auth_type,
        "label": label,
        "name": str(params.get("name") or ""),
        "username": str(params.get("username") or ""),
    }


def uri_lines(text: str) -> list[str]:
    """One URL glob per line, blank lines ignored."""
    return [line.strip() for line in text.splitlines() if line.strip()]
