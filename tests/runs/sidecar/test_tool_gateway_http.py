"""`http` tools through the gateway: the request built from the manifest and the arguments,
credentials injected and never shown, authorized_uris and the SSRF guard before anything is
sent, and connections kept within their application and end-user."""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from corral.connections.models import Connection
from corral.core.egress.client import EgressPolicy
from tests.clients import ApiClient
from tests.local_http import Answer
from tests.runs.sidecar.test_tool_gateway_support import (
    Harness,
    create_connection,
    create_end_user,
    echo,
    make_run,
    open_harness,
)

SECRET = "sk_live_tool_secret_1234"


@pytest.fixture
async def tools(app: FastAPI) -> AsyncIterator[Harness]:
    async with open_harness(app) as harness:
        yield harness


def api_uris(tools: Harness) -> list[str]:
    return [tools.server.url("/api/**")]


def crm_tool(tools: Harness, path: str = "/api/echo", **changes: Any) -> dict[str, Any]:
    return {"name": "crm", "connection": "crm", "url": tools.server.url(path), **changes}


AUTH_KINDS: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "header", "name": "X-Api-Key", "value": SECRET}, "x-api-key", SECRET),
    ({"type": "bearer", "token": SECRET}, "authorization", f"Bearer {SECRET}"),
    (
        {"type": "basic", "username": "ada", "password": SECRET},
        "authorization",
        "Basic " + base64.b64encode(f"ada:{SECRET}".encode()).decode(),
    ),
]


@pytest.mark.parametrize(
    ("auth", "header", "value"), AUTH_KINDS, ids=[auth["type"] for auth, _, _ in AUTH_KINDS]
)
async def test_header_credentials_reach_the_server_and_nothing_else(
    owner: ApiClient,
    tools: Harness,
    caplog: pytest.LogCaptureFixture,
    auth: dict[str, Any],
    header: str,
    value: str,
) -> None:
    tools.server.routes["/api/echo"] = echo
    await create_connection(owner, auth, api_uris(tools))
    with capture_logs() as logs, caplog.at_level(logging.DEBUG):
        outcome = await tools.call(make_run(owner, [crm_tool(tools)]), "crm", {"q": "acme"})
    assert SECRET not in repr(logs)
    assert SECRET not in caplog.text

    [received] = tools.server.received
    assert received.headers[header] == value
    assert received.path == "/api/echo?q=acme"
    assert outcome.status == "ok"
    assert isinstance(outcome.result, dict)
    assert outcome.result["status"] == 200
    assert outcome.result["headers"] == {"content-type": "application/json"}
    # The server echoed the credential: the agent sees it redacted.
    assert outcome.result["body"]["headers"][header].endswith("[redacted]")
    assert SECRET not in json.dumps(outcome.result)
    assert SECRET not in tools.sink.dumped()
    [event] = tools.sink.tool_calls()
    assert (event["status"], event["http_status"]) == ("ok", 200)


async def test_a_query_credential_wins_over_an_argument_of_its_name(
    owner: ApiClient, tools: Harness
) -> None:
    tools.server.routes["/api/echo"] = echo
    auth = {"type": "query", "name": "api_key", "value": SECRET}
    await create_connection(owner, auth, api_uris(tools))
    run = make_run(owner, [crm_tool(tools)])
    outcome = await tools.call(run, "crm", {"api_key": "from-the-model", "q": "x"})
    [received] = tools.server.received
    assert received.path == f"/api/echo?api_key={SECRET}&q=x"
    assert SECRET not in json.dumps(outcome.result)
    assert SECRET not in tools.sink.dumped()


async def test_arguments_fill_the_url_then_the_query_or_the_body(
    owner: ApiClient, tools: Harness
) -> None:
    url = tools.server.url("/api/items/{item}")
    run = make_run(
        owner,
        [
            {"name": "get_item", "url": url},
            {"name": "put_item", "url": url, "method": "PUT"},
        ],
    )
    got = await tools.call(run, "get_item", {"item": "a b/c", "tags": ["x", "y"], "n": 2})
    put = await tools.call(run, "put_item", {"item": "a b/c", "fields": {"price": 3}})
    first, second = tools.server.received
    assert (first.method, first.path) == ("GET", "/api/items/a%20b%2Fc?tags=x&tags=y&n=2")
    assert (second.method, second.path) == ("PUT", "/api/items/a%20b%2Fc")
    assert json.loads(second.body) == {"fields": {"price": 3}}
    assert second.headers["content-type"] == "application/json"
    assert (got.status, put.status) == ("ok", "ok")

    missing = await tools.call(run, "get_item", {})
    assert (missing.status, missing.result) == ("refused", {"code": "tool_arguments_invalid"})


async def test_text_and_large_bodies(owner: ApiClient, tools: Harness) -> None:
    tools.server.routes["/text"] = lambda _: Answer(200, {"Content-Type": "text/plain"}, b"hi")
    tools.server.routes["/huge"] = lambda _: Answer(200, {}, b"z" * 2_000_000)
    run = make_run(
        owner,
        [
            {"name": "text", "url": tools.server.url("/text")},
            {"name": "huge", "url": tools.server.url("/huge")},
        ],
    )
    text = await tools.call(run, "text")
    huge = await tools.call(run, "huge")
    assert text.result == {"status": 200, "headers": {"content-type": "text/plain"}, "body": "hi"}
    assert isinstance(huge.result, dict)
    assert huge.result["truncated"] is True
    assert len(huge.result["body"]) == 1_048_576


async def test_urls_outside_authorized_uris_are_refused_before_sending(
    owner: ApiClient, tools: Harness
) -> None:
    await create_connection(
        owner, {"type": "bearer", "token": SECRET}, [tools.server.url("/api/*")]
    )
    tools.server.routes["/api/jump"] = lambda _: Answer(302, {"Location": "/private/x"}, b"")
    run = make_run(
        owner,
        [crm_tool(tools, "/other"), crm_tool(tools, "/api/jump", name="jump")],
    )
    outside = await tools.call(run, "crm")
    assert (outside.status, outside.result) == ("refused", {"code": "uri_not_authorized"})
    assert tools.server.received == []

    redirected = await tools.call(run, "jump")
    assert (redirected.status, redirected.result) == ("refused", {"code": "uri_not_authorized"})
    assert [r.path for r in tools.server.received] == ["/api/jump"]
    assert SECRET not in tools.sink.dumped()


async def test_private_targets_are_refused_without_the_allowance(
    owner: ApiClient, app: FastAPI
) -> None:
    async with open_harness(app, policy=EgressPolicy()) as tools:
        await create_connection(owner, {"type": "bearer", "token": SECRET}, api_uris(tools))
        run = make_run(
            owner,
            [
                crm_tool(tools),
                {"name": "meta", "url": "http://169.254.169.254/latest/meta-data/"},
                {"name": "local", "url": tools.server.url("/", host="localhost")},
            ],
        )
        outcomes = [await tools.call(run, name) for name in ("crm", "meta", "local")]
        reached = tools.server.received
    for outcome in outcomes:
        assert (outcome.status, outcome.result) == ("refused", {"code": "egress_address_refused"})
    assert reached == []


async def test_end_user_connections_serve_only_their_end_user(
    owner: ApiClient, tools: Harness
) -> None:
    tools.server.routes["/api/echo"] = echo
    alice = await create_end_user(owner, "alice")
    bob = await create_end_user(owner, "bob")
    shared = {"type": "header", "name": "X-Key", "value": "application-key-1"}
    own = {"type": "header", "name": "X-Key", "value": "alice-key-2"}
    await create_connection(owner, shared, api_uris(tools))
    alices = await create_connection(owner, own, api_uris(tools), end_user_id=alice)
    tool = crm_tool(tools)
    by_id = crm_tool(tools, name="by_id", connection=alices["id"])

    for end_user in (alice, bob, None):
        await tools.call(make_run(owner, [tool], end_user_id=end_user), "crm")
    keys = [r.headers["x-key"] for r in tools.server.received]
    assert keys == ["alice-key-2", "application-key-1", "application-key-1"]

    for end_user in (bob, None):
        refused = await tools.call(make_run(owner, [by_id], end_user_id=end_user), "by_id")
        assert (refused.status, refused.result) == ("refused", {"code": "connection_not_found"})
    assert len(tools.server.received) == 3
    used = await tools.call(make_run(owner, [by_id], end_user_id=alice), "by_id")
    assert used.status == "ok"


async def test_another_applications_connections_are_out_of_reach(
    owner: ApiClient, stranger: ApiClient, tools: Harness
) -> None:
    second = (await owner.post("/api/apps", json={"name": "other"})).json()
    auth = {"type": "bearer", "token": SECRET}
    in_second = await create_connection(
        owner, auth, api_uris(tools), headers={"Corral-Application": second["id"]}
    )
    in_other_org = await create_connection(stranger, auth, api_uris(tools))
    run = make_run(
        owner,
        [
            crm_tool(tools),
            crm_tool(tools, name="second", connection=in_second["id"]),
            crm_tool(tools, name="other_org", connection=in_other_org["id"]),
        ],
    )
    for name in ("crm", "second", "other_org"):
        outcome = await tools.call(run, name)
        assert (outcome.status, outcome.result) == ("refused", {"code": "connection_not_found"})
    assert tools.server.received == []


async def test_connection_failures_are_errors_the_agent_reads(
    owner: ApiClient, tools: Harness
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    run = make_run(owner, [{"name": "gone", "url": f"http://127.0.0.1:{port}/"}])
    outcome = await tools.call(run, "gone")
    assert (outcome.status, outcome.result) == ("error", {"code": "egress_connect_failed"})
    [event] = tools.sink.tool_calls()
    assert event["status"] == "error"
    assert "cannot connect" in event["error"]


async def test_arguments_must_match_the_parameters_schema(owner: ApiClient, tools: Harness) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "maximum": 10}},
        "required": ["n"],
    }
    run = make_run(owner, [{"name": "count", "url": tools.server.url("/"), "parameters": schema}])
    for arguments, problem in (({"n": "x"}, "/n"), ({"n": 11}, "/n"), ({}, "required")):
        outcome = await tools.call(run, "count", arguments)
        assert (outcome.status, outcome.result) == ("refused", {"code": "tool_arguments_invalid"})
        assert outcome.message is not None
        assert problem in outcome.message
    assert tools.server.received == []
    assert (await tools.call(run, "count", {"n": 3})).status == "ok"


async def test_credentials_that_do_not_decrypt_are_an_error(
    owner: ApiClient, tools: Harness
) -> None:
    auth = {"type": "bearer", "token": SECRET}
    first = await create_connection(owner, auth, api_uris(tools))
    second = await create_connection(owner, auth, api_uris(tools), name="copy")
    async with tools.container.sessions() as session, session.begin():
        # Another row's ciphertext: its associated data names the other connection.
        source = await session.get(Connection, first["id"])
        target = await session.get(Connection, second["id"])
        assert source is not None
        assert target is not None
        target.secret_ciphertext = source.secret_ciphertext
    run = make_run(owner, [crm_tool(tools, connection="copy")])
    outcome = await tools.call(run, "crm")
    assert (outcome.status, outcome.result) == ("error", {"code": "connection_unusable"})
    assert tools.server.received == []
