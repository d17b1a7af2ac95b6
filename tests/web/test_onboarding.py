"""Onboarding: sign-up lands on it, the application is named, "Connect an agent" makes a key
with the agent scopes (shown once) and setup that works against the real SDK and exporter; a
user of no organization creates one; roles, CSRF and escaping."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.util.re import parse_env_headers

from corral.container import Container
from corral.core.db import transaction
from corral.core.request_context import Actor
from corral.identity.services import accounts
from corral.web.viewer import APPLICATION_COOKIE
from corral_sdk import Client, PolicyBlocked
from tests.api.approvals_support import member
from tests.clients import PASSWORD, ApiClient, asgi_client
from tests.web.admin import ESCAPED_XSS, XSS, signed_in
from tests.web.forms import csrf_of, submit
from tests.web.onboarding import KEY, client_call, env_lines, shown
from tests.web.support import post_form

AGENT_SCOPES = ["decisions:write", "policies:read", "traces:write"]


async def test_sign_up_names_the_application_and_connects_an_agent(app: FastAPI) -> None:
    async with asgi_client(app) as browser:
        signed_up = await submit(
            browser,
            "/sign-up",
            "/sign-up",
            {"email": "ada@example.com", "password": PASSWORD, "organization_name": "Engines"},
        )
        assert signed_up.status_code == 303, signed_up.text
        assert signed_up.headers["location"] == "/onboarding"
        page = await browser.get("/onboarding")
        assert page.status_code == 200
        assert "You are in <strong>Engines</strong>" in page.text
        assert 'action="/onboarding/application"' in page.text
        named = await browser.post(
            "/onboarding/application",
            data={"csrf_token": csrf_of(page), "name": "support-bot", "description": XSS},
        )
        assert named.status_code == 303, named.text
        assert named.headers["location"] == "/connect"
        again = await browser.get("/onboarding")
        assert 'action="/onboarding/application"' not in again.text
        assert "support-bot" in again.text
        assert ESCAPED_XSS in again.text
        assert XSS not in again.text

        connect = await browser.get("/connect")
        assert connect.status_code == 200
        assert "crl_…" in shown(connect, "python-snippet")
        created = await browser.post(
            "/connect", data={"csrf_token": csrf_of(connect), "agent": "ops-bot"}
        )
        assert created.status_code == 200, created.text
        assert created.headers["cache-control"] == "no-store"
        token = KEY.search(created.text)
        assert token is not None
        key = token.group(0)
        snippet = shown(created, "python-snippet")
        env = env_lines(shown(created, "otlp-env"))
        assert shown(created, "otlp-endpoint") == "http://127.0.0.1:4318/v1/traces"
        assert shown(created, "otlp-header") == f"Authorization: Bearer {key}"
        # Shown once: the next look at the page has the placeholder again.
        assert key not in (await browser.get("/connect")).text
        me = (await browser.get("/api/me")).json()
        keys = (await browser.get("/api/api-keys")).json()["data"]
        audit = await browser.get("/api/audit/events", params={"action": "application.updated"})
    assert [(k["name"], k["scopes"]) for k in keys] == [("ops-bot (agent)", AGENT_SCOPES)]
    assert len(audit.json()["data"]) == 1
    apps = [a for a in (await _apps(app, me["user"]["email"])) if a["id"] == me["application_id"]]
    assert [(a["name"], a["description"]) for a in apps] == [("support-bot", XSS)]

    # The snippet is Python the SDK accepts: compile it, and build its client.
    compile(snippet, "<snippet>", "exec")
    assert "from corral_sdk import Client, PolicyBlocked" in snippet
    assert issubclass(PolicyBlocked, Exception)
    args, kwargs = client_call(snippet)
    assert args == [key, "http://127.0.0.1:4318"]
    assert kwargs == {"agent": "ops-bot"}
    client = Client(*args, **kwargs, export_spans=False)
    assert client.endpoint == "http://127.0.0.1:4318"
    client.close()
    # The key does what the SDK needs: the policy bundle, the halts, spans, decisions.
    async with asgi_client(app, token=key) as agent:
        assert (await agent.get("/api/policies/bundle")).status_code == 200
        assert (await agent.get("/api/halts/active")).status_code == 200
        otlp = await agent.post(
            "/v1/traces", content=b"{}", headers={"Content-Type": "application/json"}
        )
        assert otlp.status_code == 200, otlp.text
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert env["OTEL_SERVICE_NAME"] == "ops-bot"
    with pytest.MonkeyPatch.context() as patched:
        for name, value in env.items():
            patched.setenv(name, value)
        exporter = OTLPSpanExporter()
    assert exporter._endpoint == "http://127.0.0.1:4318/v1/traces"
    exporter.shutdown()  # type: ignore[no-untyped-call]
    # What the exporter sends, read the way it reads the variable.
    headers = parse_env_headers(env["OTEL_EXPORTER_OTLP_HEADERS"], liberal=True)
    assert headers == {"authorization": f"Bearer {key}"}


async def _apps(app: FastAPI, email: str) -> list[dict[str, str]]:
    async with signed_in(app, email) as browser:
        listed: list[dict[str, str]] = (await browser.get("/api/apps")).json()
        return listed


async def test_a_user_of_no_organization_creates_one_with_its_application(app: FastAPI) -> None:
    container: Container = app.state.container
    async with transaction(container.sessions) as session:
        await accounts.create_user(
            session,
            container.accounts,
            email="loner@example.com",
            password=PASSWORD,
            name="Loner",
            actor=Actor.system("test"),
        )
    async with asgi_client(app) as browser:
        signed = await submit(
            browser,
            "/sign-in",
            "/sign-in",
            {"email": "loner@example.com", "password": PASSWORD},
        )
        assert signed.headers["location"] == "/onboarding"
        overview = await browser.get("/")
        assert 'href="/onboarding"' in overview.text
        assert (await browser.get("/connect")).headers["location"] == "/onboarding"
        page = await browser.get("/onboarding")
        assert 'action="/onboarding/organization"' in page.text
        empty = await post_form(
            browser, "/onboarding", "/onboarding/organization", organization_name="", name="x"
        )
        assert empty.status_code == 422
        created = await post_form(
            browser,
            "/onboarding",
            "/onboarding/organization",
            organization_name=XSS,
            name=f"app {XSS}",
        )
        assert created.status_code == 303, created.text
        assert created.headers["location"] == "/connect"
        assert created.cookies.get(APPLICATION_COOKIE, "").startswith("app_")
        connect = await browser.get("/connect")
        assert ESCAPED_XSS in connect.text
        assert XSS not in connect.text
        me = (await browser.get("/api/me")).json()
    assert [m["role"] for m in me["memberships"]] == ["owner"]


async def test_a_viewer_cannot_create_an_agent_key(app: FastAPI, owner: ApiClient) -> None:
    async with member(app, owner, "val@example.com", "viewer") as viewer:
        page = await viewer.get("/connect")
        assert page.status_code == 200
        assert 'action="/connect"' not in page.text
        assert "Your role cannot create API keys" in page.text
        refused = await post_form(viewer, "/connect", "/connect", agent="x")
        assert refused.status_code == 403
        onboarding = await viewer.get("/onboarding")
        assert 'action="/onboarding/application"' not in onboarding.text
        forged = await post_form(viewer, "/onboarding", "/onboarding/application", name="mine")
        assert forged.status_code == 403
    assert (await owner.get("/api/api-keys")).json()["data"] == []


async def test_connect_refuses_bad_names_and_posts_without_the_token(
    app: FastAPI, owner: ApiClient
) -> None:
    bad = await post_form(owner, "/connect", "/connect", agent=XSS)
    assert bad.status_code == 422
    assert XSS not in bad.text
    assert "&lt;script&gt;" in bad.text
    owner.headers.pop("X-CSRF-Token")
    forged = await owner.post("/connect", data={"agent": "ops"})
    assert forged.status_code == 403
    assert "Form refused" in forged.text


async def test_sign_up_by_invitation_goes_where_it_was_asked(
    app: FastAPI, owner: ApiClient
) -> None:
    invited = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": "bo@example.com", "role": "member"}
    )
    token = invited.json()["token"]
    async with asgi_client(app) as browser:
        joined = await submit(
            browser,
            f"/sign-up?invitation_token={token}",
            "/sign-up",
            {"email": "bo@example.com", "password": PASSWORD, "invitation_token": token},
        )
    assert joined.headers["location"] == "/"
