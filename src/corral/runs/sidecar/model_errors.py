"""How the model gateway fails: OpenAI-shaped errors with the provider's status, key-free."""

from __future__ import annotations

from typing import Any

import httpx2
import orjson

from corral.runs.sidecar import anthropic_translation as anthropic


class ModelGatewayError(Exception):
    """A call the gateway answers with an error: `status` and an OpenAI-shaped `body`."""

    def __init__(self, status: int, message: str, *, kind: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"message": message, "type": kind, "code": code}}

    @classmethod
    def from_body(cls, status: int, body: dict[str, Any]) -> ModelGatewayError:
        error = body["error"]
        return cls(
            status,
            str(error.get("message", "")),
            kind=error.get("type") or "api_error",
            code=error.get("code"),
        )


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def upstream_error(api: str, api_key: str, status: int, raw: bytes) -> ModelGatewayError:
    """The provider's error answer in OpenAI's shape, with its status and without the key."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if api == "anthropic-messages":
        shaped = anthropic.openai_error(status, body)
    elif isinstance(body, dict) and isinstance(body.get("error"), dict):
        shaped = {"error": body["error"]}
    else:
        shaped = anthropic.openai_error(status, None)
    error = ModelGatewayError.from_body(status, shaped)
    error.body["error"]["message"] = scrub(str(error.body["error"]["message"]), api_key)
    return error


def transport_error(exc: httpx2.HTTPError) -> ModelGatewayError:
    if isinstance(exc, httpx2.TimeoutException):
        return ModelGatewayError(
            504,
            "the model provider did not answer in time",
            kind="provider_error",
            code="provider_timeout",
        )
    return ModelGatewayError(
        502,
        f"the model provider cannot be reached ({type(exc).__name__})",
        kind="provider_error",
        code="provider_unreachable",
    )


def stream_error(error: ModelGatewayError) -> bytes:
    return b"data: " + orjson.dumps(error.body) + b"\n\ndata: [DONE]\n\n"


def bad_response(message: str) -> ModelGatewayError:
    return ModelGatewayError(502, message, kind="provider_error", code="provider_bad_response")
