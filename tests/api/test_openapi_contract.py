"""Property-based contract tests: every operation of `/api/openapi.json` against the real server.

How it runs: the app from `create_app()` (dev seed on, rate limiting off, loops off) is served by
a real uvicorn in a background thread on 127.0.0.1 and a free port, once per database backend
(SQLite always; PostgreSQL when `CORRAL_TEST_POSTGRES_URL` is set, in a database of its own). A
real server rather than an in-process ASGI transport because the lifespan (migrations, dev seed)
must have run before the first request, and because it exercises the HTTP server users run.

The operations are generated at collection from the document the app builds (`app.openapi()`),
with `schema.parametrize()`; a test checks that the served `/api/openapi.json` is that document.
Not `schemathesis.pytest.from_fixture`: in schemathesis 4.32 it reads `Function._nodeid`, which
pytest 9.2 removed, so it cannot run here.

Every request is authenticated: the seeded dev API key (every scope on the default application),
or a signed-in session with its CSRF header, which organization routes require.

- `test_generated_requests_conform`: Hypothesis fuzzing with valid and invalid inputs. Each case
  draws its identity and, half the time, has its path ids and `Corral-*` headers pointed at real
  objects (fresh ones when the call may destroy them), so success paths run and not only 404s.
- `test_coverage_requests_conform`: Schemathesis' deterministic coverage phase (boundary and
  invalid values, one parameter at a time), every other parameter pointed at real objects.

Each response must not be a 5xx, must have a documented status code and content type, and its
body must match the documented schema. Generation is derandomized, bounded, not shrunk, and keeps
no example database, so a run is reproducible, fits a 2-core CI box and leaves nothing behind.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from corral.api.app import create_app
from tests.clients import PASSWORD
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.services import postgres_url

ApiCase = schemathesis.Case[Any]

DEV_KEY = "crl_dev_local_do_not_use_in_production"
# OTLP export bodies: arbitrary bytes (mostly malformed protobuf, some valid by accident).
schemathesis.openapi.media_type("application/x-protobuf", st.binary(max_size=256))
# Agent packages: arbitrary bytes too (not zips, bar the odd accident).
schemathesis.openapi.media_type("application/zip", st.binary(max_size=256))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ_EXAMPLES = 25
_USER_EMAIL = "contract@example.com"
_MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def _config(*, coverage: bool) -> schemathesis.Config:
    """Bounded, reproducible generation: a fixed number of examples, no example database."""
    phases = {
        "examples": {"enabled": not coverage},
        "fuzzing": {"enabled": not coverage},
        "coverage": {"enabled": coverage},
        "stateful": {"enabled": False},
    }
    return schemathesis.Config.from_dict(
        {
            # Only slowness: each example is a real HTTP round trip, some with Argon2 hashing.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "all",
                "max-examples": FUZZ_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # Shrinking replays a failure hundreds of times over HTTP (minutes per finding);
                # the original example and its curl line are reported instead.
                "no-shrink": True,
            },
            "phases": phases,
        }
    )


@dataclass
class Identity:
    """Credentials to send with a case, and the objects that caller owns."""

    kind: str
    org_id: str
    app_id: str
    headers: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)
    user_id: str | None = None
    end_user_id: str | None = None


class Corral:
    """The running server, its two identities, and helpers that create real objects in it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._serial = 0
        self._http = httpx2.Client(base_url=base_url, timeout=30.0)
        try:
            self.key = self._key_identity()
            self.session = self._session_identity()
            scopes = self._call("GET", "/api/api-keys/scopes", self.key)
            self.scopes = [s["scope"] for s in self._json(scopes, 200)]
            self.document = self._json(self._call("GET", "/api/openapi.json", None), 200)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, identity: Identity | None, body: dict[str, Any] | None = None
    ) -> httpx2.Response:
        headers = dict(identity.headers) if identity else {}
        if identity and identity.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in identity.cookies.items())
        response = self._http.request(method, path, json=body, headers=headers)
        # Cookies set by a response belong to the identity it was made for, never to the client.
        self._http.cookies.clear()
        return response

    @staticmethod
    def _json(response: httpx2.Response, status: int) -> Any:
        assert response.status_code == status, (response.request.url, response.text)
        return response.json()

    def _key_identity(self) -> Identity:
        headers = {"Authorization": f"Bearer {DEV_KEY}"}
        identity = Identity("api_key", "", "", headers)
        me = self._json(self._call("GET", "/api/me", identity), 200)
        identity.org_id, identity.app_id = me["org_id"], me["application_id"]
        identity.end_user_id = self.create_end_user(identity)
        return identity

    def _signed_in(self, path: str, body: dict[str, Any], status: int) -> Identity:
        response = self._call("POST", path, None, body)
        data = self._json(response, status)
        cookies = dict(response.cookies)
        identity = Identity("session", "", "", {"X-CSRF-Token": data["csrf_token"]}, cookies)
        identity.user_id = data["user"]["id"]
        me = self._json(self._call("GET", "/api/me", identity), 200)
        identity.org_id, identity.app_id = me["org_id"], me["application_id"]
        return identity

    def _session_identity(self) -> Identity:
        body = {"email": _USER_EMAIL, "password": PASSWORD, "organization_name": "Contract"}
        return self._signed_in("/api/auth/register", body, 201)

    def fresh_session(self) -> Identity:
        """Another sign-in of the session user, for a call that signs it out."""
        return self._signed_in("/api/auth/login", {"email": _USER_EMAIL, "password": PASSWORD}, 200)

    def _create(self, identity: Identity, path: str, body: dict[str, Any]) -> str:
        self._serial += 1
        created: str = self._json(self._call("POST", path, identity, body), 201)["id"]
        return created

    def create_end_user(self, identity: Identity) -> str:
        return self._create(identity, "/api/end-users", {"external_id": f"contract-{self._serial}"})

    def create_key(self, identity: Identity) -> str:
        return self._create(
            identity, "/api/api-keys", {"name": "contract", "scopes": self.scopes[:1]}
        )

    def create_policy(self, identity: Identity) -> str:
        body = {"name": f"contract-{self._serial}", "expression": "true", "action": "log"}
        return self._create(identity, "/api/policies", body)

    def create_approval(self, identity: Identity) -> str:
        call = f"tool.contract-{self._serial}"
        policy = {
            "name": f"contract-approval-{self._serial}",
            "expression": "true",
            "action": "require_approval",
            # Expired at once: a generated `?wait=` answers immediately.
            "action_config": {"timeout_seconds": 0.001},
            "applies_to": [call],
        }
        self._create(identity, "/api/policies", policy)
        return self._create(identity, "/api/approvals", {"name": call, "arguments": {}})

    def create_agent(self, identity: Identity) -> str:
        self._serial += 1
        manifest = {
            "name": f"contract-{self._serial}",
            "version": "1.0.0",
            "model": {"provider": "scripted", "turns": [{"output": {}}]},
        }
        return self._create(identity, "/api/agents", {"manifest": manifest, "prompt": "p"})

    def create_connection(self, identity: Identity) -> str:
        body = {
            "name": f"contract-{self._serial}",
            "auth": {"type": "bearer", "token": "contract-token"},
            "authorized_uris": ["https://contract.example.com/**"],
        }
        return self._create(identity, "/api/connections", body)

    def create_run(self, identity: Identity) -> str:
        """An ended run (no worker runs here): its event stream replays and closes."""
        body = {"agent": self.create_agent(identity), "input": {}}
        run_id = self._create(identity, "/api/runs", body)
        self._json(self._call("POST", f"/api/runs/{run_id}/cancel", identity, {}), 200)
        return run_id

    def create_provider(self, identity: Identity) -> str:
        body = {
            "api": "openai-chat",
            "base_url": "https://llm.contract.example.com/v1",
            "api_key": "contract-provider-key",
            "models": ["contract-model"],
        }
        return self._create(identity, "/api/providers", body)

    def create_schedule(self, identity: Identity) -> str:
        body = {
            "name": f"contract-{self._serial}",
            "agent": self.create_agent(identity),
            "cron": "0 9 * * *",
            "timezone": "Europe/Paris",
        }
        return self._create(identity, "/api/schedules", body)

    def create_halt(self, identity: Identity) -> str:
        # An agent no contract run uses, so that the halt refuses nothing the cases create.
        body = {"scope": "agent", "scope_value": "contract-halted", "reason": "contract"}
        return self._create(identity, "/api/halts", body)

    def create_budget(self, identity: Identity) -> str:
        body = {
            "name": f"contract-{self._serial}",
            "limit": "1000",
            "scope": "agent",
            "scope_value": "contract-budgeted",
        }
        return self._create(identity, "/api/budgets", body)

    def create_webhook(self, identity: Identity) -> str:
        body = {"url": "https://hooks.contract.example.com/corral"}
        return self._create(identity, "/api/webhooks", body)

    def create_delivery(self, identity: Identity, endpoint_id: str) -> str:
        path = f"/api/webhooks/{endpoint_id}/test"
        delivery: str = self._json(self._call("POST", path, identity, {}), 202)["id"]
        return delivery

    def latest_audit_event(self, identity: Identity) -> str:
        page = self._json(self._call("GET", "/api/audit/events?limit=1", identity), 200)
        event_id: str = page["data"][0]["id"]
        return event_id

    def latest_anchor(self, identity: Identity) -> str | None:
        """An anchor when the anchor loop has made one yet (else the generated id stays)."""
        page = self._json(self._call("GET", "/api/audit/anchors?limit=1", identity), 200)
        return str(page["data"][0]["id"]) if page["data"] else None

    def create_org(self) -> str:
        return self._create(self.session, "/api/orgs", {"name": f"scratch-{self._serial}"})

    def create_app(self) -> str:
        return self._create(self.session, "/api/apps", {"name": f"scratch-{self._serial}"})

    def create_invitation(self, org_id: str) -> str:
        body = {"email": "invitee@example.com"}
        return self._create(self.session, f"/api/orgs/{org_id}/invitations", body)


def _natural_identity(corral: Corral, case: ApiCase) -> Identity:
    """Organization management needs a session; everything else is exercised with the key."""
    return corral.session if case.path.startswith("/api/orgs") else corral.key


def _point_at_real_objects(
    corral: Corral, case: ApiCase, identity: Identity, *, keep: str | None = None
) -> None:
    """Replace generated ids with real ones, except `keep`; what the call may destroy is fresh."""
    mutating = case.method.upper() in _MUTATING
    params = case.path_parameters if case.path_parameters is not None else {}
    real: dict[str, Callable[[], str | None]] = {
        "org_id": (corral.create_org if mutating else lambda: identity.org_id),
        "user_id": lambda: identity.user_id,
        "invitation_id": lambda: corral.create_invitation(
            params["org_id"] if keep != "org_id" else corral.create_org()
        ),
        "app_id": (
            corral.create_app
            if mutating and identity.kind == "session"
            else lambda: identity.app_id
        ),
        "key_id": lambda: corral.create_key(identity),
        "end_user_id": lambda: corral.create_end_user(identity),
        "policy_id": lambda: corral.create_policy(identity),
        "version": lambda: "1",
        "template_id": lambda: "block-shell-tools",
        "agent": lambda: corral.create_agent(identity),
        "agent_version": lambda: "1.0.0",
        "connection_id": lambda: corral.create_connection(identity),
        "run_id": lambda: corral.create_run(identity),
        "provider_id": lambda: corral.create_provider(identity),
        "schedule_id": lambda: corral.create_schedule(identity),
        "halt_id": lambda: corral.create_halt(identity),
        "budget_id": lambda: corral.create_budget(identity),
        "endpoint_id": lambda: corral.create_webhook(identity),
        # A delivery of the endpoint chosen just before.
        "delivery_id": lambda: corral.create_delivery(
            identity,
            params["endpoint_id"] if keep != "endpoint_id" else corral.create_webhook(identity),
        ),
        "event_id": lambda: corral.latest_audit_event(identity),
        "anchor_id": lambda: corral.latest_anchor(identity),
        "approval_id": lambda: corral.create_approval(identity),
    }
    # Dict order matters: an invitation is created in the organization chosen just before.
    for name, make in real.items():
        if name in params and name != keep:
            value = make()
            if value is not None:
                params[name] = value
    headers = case.headers if case.headers is not None else {}
    scope = {
        "corral-application": identity.app_id,
        "corral-organization": identity.org_id,
        "corral-end-user": identity.end_user_id,
    }
    for header in [h for h in headers if h.lower() in scope and h.lower() != (keep or "").lower()]:
        value = scope[header.lower()]
        if value is None:
            del headers[header]
        else:
            headers[header] = value


def _send(corral: Corral, case: ApiCase, identity: Identity) -> None:
    response = case.call(
        base_url=corral.base_url, headers=identity.headers, cookies=identity.cookies, timeout=30
    )
    case.validate_response(response, checks=CHECKS, headers=identity.headers)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def corral(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Corral]:
    """The app served over HTTP, seeded, with a signed-in user beside the dev key."""
    data_dir = tmp_path_factory.mktemp(f"contract-{request.param}")
    database: str | None = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'corral.db'}"
    else:
        admin = postgres_url()
        # The pid too: test runs from other checkouts may share the PostgreSQL server.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        database = f"corral_contract_{worker}_{os.getpid()}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{url}/{database}"
    # Every generated call may queue a run: the run limits must not be what the checks meet.
    unlimited = {"max_concurrent_per_org": 1_000_000, "per_org_global_rate_per_min": 1_000_000}
    runs = {
        "worker_in_server": False,
        "sidecar_pool_size": 0,
        "platform_run_limits": unlimited,
        "inline_run_limits": {"rate_per_min": 1_000_000},
    }
    app = create_app(make_settings(data_dir, url, auth={"seed_dev": True}, runs=runs))
    try:
        with ThreadedServer(app) as server:
            running = Corral(server.base_url)
            try:
                yield running
            finally:
                running.close()
    finally:
        if database is not None:
            with psycopg.connect(postgres_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, built without serving it: operations are known at collection."""
    app = create_app(make_settings(Path("unused"), "sqlite+aiosqlite:///:memory:"))
    document: dict[str, Any] = json.loads(json.dumps(app.openapi()))
    return document


DOCUMENT = _document()
fuzz_schema = schemathesis.openapi.from_dict(
    copy.deepcopy(DOCUMENT), config=_config(coverage=False)
)
coverage_schema = schemathesis.openapi.from_dict(
    copy.deepcopy(DOCUMENT), config=_config(coverage=True)
)


def test_served_document_is_the_tested_one(corral: Corral) -> None:
    """The operations were generated from a document built at import; it must be the served one."""
    assert corral.document == DOCUMENT


@fuzz_schema.parametrize()
@fuzz_schema.given(data=st.data())
def test_generated_requests_conform(case: ApiCase, data: st.DataObject, corral: Corral) -> None:
    """Fuzzed requests, as the key or a session, at made-up or real ids, get documented answers."""
    if case.path == "/api/auth/logout":
        # A session signing out must not be the shared one.
        choices = [corral.key, None]
    elif case.path.startswith("/api/orgs"):
        choices = [corral.session]
    else:
        choices = [corral.key, corral.session]
    identity = data.draw(st.sampled_from(choices), label="identity") or corral.fresh_session()
    if data.draw(st.booleans(), label="real objects"):
        _point_at_real_objects(corral, case, identity)
    _send(corral, case, identity)


@coverage_schema.parametrize()
def test_coverage_requests_conform(case: ApiCase, corral: Corral) -> None:
    """Boundary and invalid values of each parameter get documented answers."""
    identity = _natural_identity(corral, case)
    # Coverage varies one parameter at a time: keep that one, make the rest reach real objects.
    target = case.meta.phase.data.parameter if case.meta is not None else None
    _point_at_real_objects(corral, case, identity, keep=target)
    _send(corral, case, identity)
