"""Performing an `http` tool call: the request built from the manifest and the arguments, sent
through the egress guard, and the answer the model reads.

The arguments must match the tool's `parameters` schema, when it has one. The request: the
manifest's method and URL; each `{name}` in the URL is replaced by that
argument, percent-encoded as one path segment; the other arguments become the query string for
GET, HEAD and DELETE and a JSON object body for POST, PUT and PATCH. The connection's credential
is added last (a model argument cannot replace it), and the URL of every hop must be covered by
the connection's `authorized_uris` before anything is sent there.

The answer: `{"status", "headers": {"content-type"}, "body"}`, the body parsed when it is JSON,
else text, cut at the size cap (`"truncated": true`). The credential's values are replaced by
`[redacted]` wherever they appear in it, so a server echoing a request cannot hand the secret to
the agent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import jsonschema_rs
import orjson

from corral.agents.manifest import Tool, schema_validator
from corral.connections.uri_globs import covered
from corral.core.egress.client import EgressClient, EgressResponse, UrlCheck
from corral.core.egress.errors import EgressRefused
from corral.runs.sidecar.tool_credentials import ToolCredentials

REDACTED = "[redacted]"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE"})
_ACCEPT = "application/json, text/*;q=0.9, */*;q=0.5"
_MAX_REPORTED_PROBLEMS = 5


class ToolRefused(Exception):
    """The call cannot be made as asked; the model reads `message`, code is stable."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class HttpCall:
    method: str
    url: httpx2.URL
    headers: dict[str, str]
    content: bytes | None


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _query_values(value: Any) -> list[str]:
    if value is None:
        return []
    text = _scalar_text(value)
    if text is not None:
        return [text]
    if isinstance(value, list) and all(_scalar_text(item) is not None for item in value):
        return [str(_scalar_text(item)) for item in value]
    return [orjson.dumps(value).decode()]


@functools.lru_cache(maxsize=256)
def _arguments_validator(schema_json: bytes) -> jsonschema_rs.Validator:
    return schema_validator(orjson.loads(schema_json))


def check_arguments(tool: Tool, arguments: Mapping[str, Any]) -> None:
    """Refuse arguments that do not match the tool's `parameters`, naming where and why."""
    if tool.parameters is None:
        return
    validator = _arguments_validator(orjson.dumps(tool.parameters, option=orjson.OPT_SORT_KEYS))
    problems = []
    for error in validator.iter_errors(dict(arguments)):
        where = "/".join(str(part) for part in error.instance_path)
        problems.append(f"/{where}: {str(error).split(chr(10), 1)[0]}")
        if len(problems) == _MAX_REPORTED_PROBLEMS:
            break
    if problems:
        raise ToolRefused(
            "the arguments do not match the tool's parameters: " + "; ".join(problems),
            code="tool_arguments_invalid",
        )


def build_call(
    tool: Tool, arguments: Mapping[str, Any], credentials: ToolCredentials | None
) -> HttpCall:
    if tool.url is None:
        raise ToolRefused(
            f"the tool {tool.name!r} has no url in the agent's manifest, so it cannot be called",
            code="tool_not_configured",
        )
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in arguments:
            raise ToolRefused(f"the argument {name!r} is required", code="tool_arguments_invalid")
        text = _scalar_text(arguments[name])
        if text is None:
            raise ToolRefused(
                f"the argument {name!r} must be a string or a number", code="tool_arguments_invalid"
            )
        used.add(name)
        return quote(text, safe="")

    try:
        url = httpx2.URL(_PLACEHOLDER.sub(fill, tool.url))
    except httpx2.InvalidURL as exc:
        raise ToolRefused(f"the tool's URL is not valid: {exc}", code="tool_url_invalid") from None
    rest = {name: value for name, value in arguments.items() if name not in used}
    headers = {"Accept": _ACCEPT}
    content: bytes | None = None
    if tool.method in _QUERY_METHODS:
        params: list[tuple[str, str | int | float | bool | None]] = [
            (name, text) for name, value in rest.items() for text in _query_values(value)
        ]
        if params:
            url = url.copy_merge_params(params)
    else:
        content = orjson.dumps(rest)
        headers["Content-Type"] = "application/json"
    if credentials is not None:
        headers.update(credentials.headers)
        for name, value in credentials.query.items():
            url = url.copy_set_param(name, value)
    return HttpCall(tool.method, url, headers, content)


def authorized_uris_check(credentials: ToolCredentials) -> UrlCheck:
    globs = list(credentials.authorized_uris)

    def check(url: httpx2.URL) -> None:
        if not covered(globs, str(url)):
            # The query is left out: it may hold the credential.
            where = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
            raise EgressRefused(
                f"{where} is not covered by the connection's authorized_uris",
                code="uri_not_authorized",
            )

    return check


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every secret replaced by `[redacted]`, inside strings and keys alike."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(key, secrets): scrub(item, secrets) for key, item in value.items()}
    return value


def tool_result(response: EgressResponse, secrets: tuple[str, ...]) -> dict[str, Any]:
    content_type = response.headers.get("content-type")
    text = scrub(response.body.decode("utf-8", errors="replace"), secrets)
    body: Any = text
    if content_type and "json" in content_type.lower() and not response.truncated and text:
        try:
            body = scrub(orjson.loads(text), secrets)
        except orjson.JSONDecodeError:
            body = text
    result: dict[str, Any] = {
        "status": response.status,
        "headers": {"content-type": content_type} if content_type else {},
        "body": body,
    }
    if response.truncated:
        result["truncated"] = True
    return result


async def perform(
    egress: EgressClient, call: HttpCall, credentials: ToolCredentials | None
) -> dict[str, Any]:
    response = await egress.request(
        call.method,
        call.url,
        headers=call.headers,
        content=call.content,
        check_url=None if credentials is None else authorized_uris_check(credentials),
        truncate=True,
    )
    return tool_result(response, () if credentials is None else credentials.secrets)
