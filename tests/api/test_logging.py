"""Structured logs: one access line per request, request ids, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx2
import pytest
import structlog
from fastapi import FastAPI

from corral.core.logging import configure, redact_secrets
from corral.core.settings import LogSettings
from tests.clients import ApiClient, asgi_client
from tests.conftest import TEST_SECRETS

GENERATED_REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")


@contextmanager
def json_logs(
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO",
) -> Iterator[io.StringIO]:
    """JSON logs captured in memory; the logging setup in place before is restored afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    uvicorn_access = logging.getLogger("uvicorn.access")
    saved_structlog = structlog.get_config()
    saved_handlers = [h for h in root.handlers if getattr(h, "_corral", False)]
    saved_levels = (root.level, uvicorn_access.level)
    configure(LogSettings(format="json", level=level), stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_corral", False):
                root.removeHandler(handler)
                handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_levels[0])
        uvicorn_access.setLevel(saved_levels[1])
        structlog.configure(**saved_structlog)


@pytest.fixture
def log_stream(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    with json_logs(getattr(request, "param", "INFO")) as stream:
        yield stream


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written so far; each must be one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def access_line(stream: io.StringIO, response: httpx2.Response) -> dict[str, Any]:
    """The one access-log line of this response, found by its request id."""
    request_id = response.headers["x-request-id"]
    lines = [
        r
        for r in records(stream)
        if r.get("event") == "request" and r.get("request_id") == request_id
    ]
    assert len(lines) == 1, lines
    return lines[0]


def reset(stream: io.StringIO) -> None:
    stream.seek(0)
    stream.truncate()


async def test_each_request_writes_one_json_line_with_its_context(
    log_stream: io.StringIO, app: FastAPI, owner: ApiClient
) -> None:
    reset(log_stream)
    listed = await owner.get("/api/end-users")
    assert listed.status_code == 200
    key = await owner.create_key(["end_users:read", "end_users:write"])
    async with asgi_client(app, token=key["key"]) as by_key:
        created = await by_key.post("/api/end-users", json={"external_id": "customer-1"})
        assert created.status_code == 201, created.text
        end_user_id = created.json()["id"]
        fetched = await by_key.get(f"/api/end-users/{end_user_id}")
        as_end_user = await by_key.get(
            f"/api/end-users/{end_user_id}", headers={"Corral-End-User": end_user_id}
        )
        missing = await by_key.get("/api/end-users/eu_missing")
    async with asgi_client(app, token="crl_" + secrets.token_urlsafe(32)) as bad_key:
        refused = await bad_key.get("/api/end-users")
    responses = [listed, created, fetched, as_end_user, missing, refused]

    lines = [r for r in records(log_stream) if r.get("event") == "request"]
    # One line per request: the key creation plus the six above, and nothing else.
    assert len(lines) == len(responses) + 1
    for line in lines:
        assert line["logger"] == "corral.access"
        assert line["level"] == "info"
        assert isinstance(line["duration_ms"], int | float)
        assert line["duration_ms"] >= 0
        assert {"request_id", "method", "route", "status", "timestamp"} <= set(line)

    session_line = access_line(log_stream, listed)
    assert session_line["method"] == "GET"
    assert session_line["route"] == "/api/end-users"
    assert session_line["status"] == 200
    assert session_line["user_id"] == owner.user_id
    assert session_line["org_id"] == owner.org_id
    assert session_line["application_id"] == owner.app_id
    assert "error_code" not in session_line
    assert "api_key_id" not in session_line

    for response in (created, fetched):
        line = access_line(log_stream, response)
        assert line["api_key_id"] == key["id"]
        assert line["org_id"] == owner.org_id
        assert line["application_id"] == owner.app_id
        assert "user_id" not in line
    created_line = access_line(log_stream, created)
    assert (created_line["method"], created_line["route"], created_line["status"]) == (
        "POST",
        "/api/end-users",
        201,
    )
    fetched_line = access_line(log_stream, fetched)
    assert fetched_line["route"] == "/api/end-users/{end_user_id}"
    assert fetched_line["path"] == f"/api/end-users/{end_user_id}"

    assert as_end_user.status_code == 200, as_end_user.text
    assert access_line(log_stream, as_end_user)["end_user_id"] == end_user_id

    missing_line = access_line(log_stream, missing)
    assert missing.status_code == 404
    assert missing_line["status"] == 404
    assert missing_line["error_code"] == missing.json()["code"]
    assert missing_line["api_key_id"] == key["id"]

    refused_line = access_line(log_stream, refused)
    assert refused.status_code == 401
    assert refused_line["status"] == 401
    assert refused_line["error_code"] == refused.json()["code"]
    assert "api_key_id" not in refused_line


async def test_validation_errors_are_logged_with_their_code(
    log_stream: io.StringIO, owner: ApiClient
) -> None:
    response = await owner.post("/api/end-users", json={"external_id": 12, "unknown": True})
    assert response.status_code in (400, 422)
    line = access_line(log_stream, response)
    assert line["status"] == response.status_code
    assert line["error_code"] == response.json()["code"]


async def test_well_formed_request_id_is_echoed_and_logged(
    log_stream: io.StringIO, client: ApiClient
) -> None:
    request_id = "trace-01HZX3:abc.DEF_42"
    response = await client.get("/api/me", headers={"X-Request-Id": request_id})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id
    assert access_line(log_stream, response)["request_id"] == request_id


@pytest.mark.parametrize(
    "incoming",
    ["rid7", "r" * 65, "has spaces in it 12345", "semi;colon;12345678", 'quote"d-12345678'],
    ids=["too-short", "too-long", "spaces", "semicolons", "quote"],
)
async def test_malformed_request_id_is_replaced(
    log_stream: io.StringIO, client: ApiClient, incoming: str
) -> None:
    response = await client.get("/api/me", headers={"X-Request-Id": incoming})
    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert GENERATED_REQUEST_ID.match(generated)
    assert response.json()["request_id"] == generated
    assert access_line(log_stream, response)["request_id"] == generated
    assert incoming not in log_stream.getvalue()


async def test_every_request_gets_its_own_id(log_stream: io.StringIO, client: ApiClient) -> None:
    ids = {(await client.get("/api/me")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(GENERATED_REQUEST_ID.match(i) for i in ids)


def _secret_parts(value: str) -> set[str]:
    """A configured secret and, for `id:key` lists, each key on its own."""
    parts = {value}
    for entry in value.split(","):
        parts.add(entry.strip())
        parts.add(entry.partition(":")[2])
    return {p for p in parts if len(p) >= 16}


@pytest.mark.parametrize("log_stream", ["INFO", "DEBUG"], indirect=True)
async def test_secrets_never_reach_the_logs(log_stream: io.StringIO, app: FastAPI) -> None:
    password = "pw-" + secrets.token_urlsafe(18)
    wrong_password = "wrong-" + secrets.token_urlsafe(18)
    weak_password = "w" + secrets.token_hex(4)
    new_password = "new-" + secrets.token_urlsafe(18)
    bad_key = "crl_" + secrets.token_urlsafe(32)
    leaked: set[str] = {password, wrong_password, weak_password, new_password, bad_key}

    async with asgi_client(app) as user:
        registered = await user.register("secretive@example.com", org="Hush", password=password)
        leaked |= {registered["csrf_token"], user.cookies["corral_session"]}
        weak = await user.post(
            "/api/auth/register", json={"email": "weak@example.com", "password": weak_password}
        )
        assert weak.status_code == 422
        key = await user.create_key(["end_users:read", "end_users:write", "api_keys:write"])
        rotated = await user.post(f"/api/api-keys/{key['id']}/rotate")
        assert rotated.status_code == 201, rotated.text
        leaked |= {key["key"], rotated.json()["key"]}
        changed = await user.post(
            "/api/auth/password",
            json={"current_password": password, "new_password": new_password},
        )
        assert changed.status_code == 204, changed.text

    async with asgi_client(app) as other:
        assert (await other.login("secretive@example.com", wrong_password)).status_code == 401
        assert (await other.login("secretive@example.com", password)).status_code == 401
        signed_in = await other.login("secretive@example.com", new_password)
        assert signed_in.status_code == 200, signed_in.text
        leaked |= {signed_in.json()["csrf_token"], other.cookies["corral_session"]}
        assert (await other.get("/api/me")).status_code == 200

    async with asgi_client(app, token=key["key"]) as by_key:
        assert (await by_key.post("/api/end-users", json={"external_id": "e1"})).status_code == 201
        # A key pasted into a URL by mistake: the path is logged, the key must not be.
        assert (await by_key.get(f"/api/end-users/{rotated.json()['key']}")).status_code == 404
    async with asgi_client(app, token=bad_key) as by_bad_key:
        assert (await by_bad_key.get("/api/end-users")).status_code == 401
    async with asgi_client(app) as malformed:
        response = await malformed.get("/api/me", headers={"Authorization": f"Token {bad_key}"})
        assert response.status_code == 401

    for value in TEST_SECRETS.values():
        leaked |= _secret_parts(value)

    text = log_stream.getvalue()
    lines = records(log_stream)
    # The capture really saw this traffic, so an empty log cannot pass for a clean one.
    assert sum(1 for r in lines if r.get("event") == "request") >= 14
    assert all(len(value) >= 8 for value in leaked)
    found = sorted(value for value in leaked if value in text)
    assert found == []


def test_redaction_processor_masks_secret_fields_and_tokens() -> None:
    token = "crl_" + "A1b2" * 10
    event = {
        "event": f"calling with {token}",
        "password": "hunter2",
        "new_password": "hunter3",
        "Authorization": "Bearer abc",
        "cookie": "corral_session=xyz",
        "api_key": "k",
        "client_secret": "s",
        "csrf_token": "t",
        "password_pepper": "p",
        "api_key_id": "key_123",
        "user_id": "usr_1",
        "session_id": "ses_1",
        "headers": {"authorization": "Bearer abc", "accept": "json"},
        "args": ["plain", f"x {token} y"],
    }
    out = redact_secrets(None, "info", event)
    for name in (
        "password",
        "new_password",
        "Authorization",
        "cookie",
        "api_key",
        "client_secret",
        "csrf_token",
        "password_pepper",
    ):
        assert out[name] == "[redacted]", name
    assert out["api_key_id"] == "key_123"
    assert out["user_id"] == "usr_1"
    assert out["session_id"] == "ses_1"
    assert out["headers"] == {"authorization": "[redacted]", "accept": "json"}
    assert out["args"][0] == "plain"
    assert token not in out["event"]
    assert token not in out["args"][1]
    assert out["event"].startswith("calling with crl_A1b2")


def test_structlog_and_stdlib_logs_are_both_json_and_redacted(log_stream: io.StringIO) -> None:
    token = "crl_" + secrets.token_urlsafe(32)
    structlog.get_logger("corral.test").info("structured", password="hunter2", note=token)
    logging.getLogger("some.library").warning("library saw %s", token)
    lines = records(log_stream)
    structured = next(r for r in lines if r["event"] == "structured")
    assert structured["password"] == "[redacted]"
    assert structured["level"] == "info"
    assert structured["logger"] == "corral.test"
    library = next(r for r in lines if r.get("logger") == "some.library")
    assert library["level"] == "warning"
    assert library["event"].startswith("library saw crl_")
    assert token not in log_stream.getvalue()
    assert "hunter2" not in log_stream.getvalue()


@pytest.mark.parametrize("key", ["csrf", "session", "signing_key", "private_key"])
def test_redaction_covers_other_secret_looking_keys(key: str) -> None:
    """CSRF tokens, session tokens and `*_key` values are masked under their bare names too."""
    assert redact_secrets(None, "info", {"event": "e", key: "s3cr3t"})[key] == "[redacted]"


def test_capture_restores_the_previous_logging_setup() -> None:
    """Other tests keep the logging they had: handlers, levels and structlog config come back."""
    root = logging.getLogger()
    before_handlers = [h for h in root.handlers if getattr(h, "_corral", False)]
    before_config = structlog.get_config()
    before_level = root.level
    with json_logs("DEBUG") as stream:
        structlog.get_logger("corral.test").info("inside")
        assert root.level == logging.DEBUG
    assert json.loads(stream.getvalue().splitlines()[-1])["event"] == "inside"
    assert [h for h in root.handlers if getattr(h, "_corral", False)] == before_handlers
    assert structlog.get_config() == before_config
    assert root.level == before_level
