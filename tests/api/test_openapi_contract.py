"""Property-based contract tests: every operation of `/api/openapi.json` against the real server.

How it runs: the app from `create_app()` (dev seed on, rate limiting off, loops off) is served by
a real uvicorn in a background thread on 127.0.0.1 and a free port, once per database backend
(SQLite always, PostgreSQL when `CORRAL_TEST_POSTGRES_URL` is set). A real server rather than an
in-process ASGI transport because the lifespan (migrations, dev seed) must run before the first
request, and because it exercises the HTTP server users run. Schemathesis loads the document from
that server and sends each generated request there over HTTP.

Every request is authenticated: the seeded dev API key (every scope on the default application),
or a signed-in session with its CSRF header, which organization routes require. Two tests share
the server:

- `test_generated_requests_conform`: Hypothesis fuzzing (valid and invalid inputs). For each case
  it draws the identity and, half the time, points path parameters and `Corral-*` headers at real
  objects (a fresh one when the call may destroy it), so success paths are covered and not only
  404s.
- `test_coverage_requests_conform`: Schemathesis' deterministic coverage phase (boundary and
  invalid values of every parameter), with the operation's natural identity.

Each response must not be a 5xx, must have a documented status code and content type, and its
body must match the documented schema. Generation is derandomized and the example database is off,
so a run is reproducible and leaves nothing behind.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
import schemathesis
import uvicorn
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
from tests.services import postgres_url

DEV_KEY = "crl_dev_local_do_not_use_in_production"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ_EXAMPLES = 30
_STARTUP_TIMEOUT_SECONDS = 30.0
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
            },
            "phases": phases,
        }
    )


class _ThreadedServer:
    """uvicorn serving the app from a daemon thread, on a socket bound before start."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> _ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start; see the captured log")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(_STARTUP_TIMEOUT_SECONDS)
        self._socket.close()


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
        self._http = httpx2.Client(base_url=base_url, timeout=30.0)
        self.key = self._key_identity()
        self.session = self._session_identity()
        scopes = self._http.get("/api/api-keys/scopes", headers=self.key.headers)
        self.scopes = [s["scope"] for s in self._json(scopes, 200)]

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _json(response: httpx2.Response, status: int) -> Any:
        assert response.status_code == status, (response.request.url, response.text)
        return response.json()

    def _key_identity(self) -> Identity:
        headers = {"Authorization": f"Bearer {DEV_KEY}"}
        me = self._json(self._http.get("/api/me", headers=headers), 200)
        identity = Identity("api_key", me["org_id"], me["application_id"], headers)
        identity.end_user_id = self.create_end_user(identity)
        return identity

    def _session_identity(self) -> Identity:
        body = {"email": "contract@example.com", "password": PASSWORD, "organization_name": "Contract"}
        self._http.cookies.clear()
        response = self._http.post("/api/auth/register", json=body)
        data = self._json(response, 201)
        cookies = dict(response.cookies)
        self._http.cookies.clear()
        headers = {"X-CSRF-Token": data["csrf_token"]}
        me = self._json(self._http.get("/api/me", headers=headers, cookies=cookies), 200)
        return Identity(
            "session", me["org_id"], me["application_id"], headers, cookies, user_id=data["user"]["id"]
        )

    def fresh_session(self) -> Identity:
        """Another sign-in of the session user, for a call that signs it out."""
        body = {"email": "contract@example.com", "password": PASSWORD}
        response = self._http.post("/api/auth/login", json=body)
        data = self._json(response, 200)
        cookies = dict(response.cookies)
        self._http.cookies.clear()
        base = self.session
        return Identity(
            "session", base.org_id, base.app_id, {"X-CSRF-Token": data["csrf_token"]}, cookies,
            user_id=base.user_id,
        )

    def _post(self, identity: Identity, path: str, body: dict[str, Any]) -> str:
        response = self._http.post(path, json=body, headers=identity.headers, cookies=identity.cookies)
        self._http.cookies.clear()
        created: str = self._json(response, 201)["id"]
        return created

    def create_end_user(self, identity: Identity) -> str:
        return self._post(identity, "/api/end-users", {"external_id": f"contract-{time.monotonic_ns()}"})

    def create_key(self, identity: Identity) -> str:
        return self._post(identity, "/api/api-keys", {"name": "contract", "scopes": self.scopes[:1]})

    def create_org(self) -> str:
        return self._post(self.session, "/api/orgs", {"name": "Scratch"})

    def create_app(self) -> str:
        return self._post(self.session, "/api/apps", {"name": "scratch"})

    def create_invitation(self, org_id: str) -> str:
        return self._post(
            self.session, f"/api/orgs/{org_id}/invitations", {"email": "invitee@example.com"}
        )


def _natural_identity(corral: Corral, case: schemathesis.Case) -> Identity:
    """Organization management needs a session; everything else is exercised with the key."""
    return corral.session if case.path.startswith("/api/orgs") else corral.key


def _point_at_real_objects(corral: Corral, case: schemathesis.Case, identity: Identity) -> None:
    """Replace generated ids with real ones; objects the call may destroy are created for it."""
    params = case.path_parameters
    if params is not None:
        mutating = case.method.upper() in _MUTATING
        if "org_id" in params:
            params["org_id"] = corral.create_org() if mutating else identity.org_id
        if "user_id" in params and identity.user_id is not None:
            params["user_id"] = identity.user_id
        if "invitation_id" in params:
            params["invitation_id"] = corral.create_invitation(params["org_id"])
        if "app_id" in params:
            fresh = mutating and identity.kind == "session"
            params["app_id"] = corral.create_app() if fresh else identity.app_id
        if "key_id" in params:
            params["key_id"] = corral.create_key(identity)
        if "end_user_id" in params:
            params["end_user_id"] = corral.create_end_user(identity)
    headers = case.headers
    if headers is not None:
        real = {
            "corral-application": identity.app_id,
            "corral-organization": identity.org_id,
            "corral-end-user": identity.end_user_id,
        }
        for name in [h for h in headers if h.lower() in real]:
            value = real[name.lower()]
            if value is None:
                del headers[name]
            else:
                headers[name] = value


def _send(case: schemathesis.Case, identity: Identity) -> None:
    response = case.call(headers=identity.headers, cookies=identity.cookies, timeout=30)
    case.validate_response(response, checks=CHECKS, headers=identity.headers)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def corral(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corral]:
    """The app served over HTTP, seeded, with a signed-in user beside the dev key."""
    data_dir = tmp_path_factory.mktemp(f"contract-{request.param}")
    database: str | None = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'corral.db'}"
    else:
        admin = postgres_url()
        database = "corral_contract_" + str(request.config.workerinput["workerid"]) if hasattr(
            request.config, "workerinput"
        ) else "corral_contract_main"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{url}/{database}"
    app = create_app(make_settings(data_dir, url, auth={"seed_dev": True}))
    try:
        with _ThreadedServer(app) as server:
            running = Corral(server.base_url)
            try:
                yield running
            finally:
                running.close()
    finally:
        if database is not None:
            with psycopg.connect(postgres_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def fuzz_schema(corral: Corral) -> Any:
    return schemathesis.openapi.from_url(
        f"{corral.base_url}/api/openapi.json", config=_config(coverage=False)
    )


@pytest.fixture
def coverage_schema(corral: Corral) -> Any:
    return schemathesis.openapi.from_url(
        f"{corral.base_url}/api/openapi.json", config=_config(coverage=True)
    )


fuzz = schemathesis.pytest.from_fixture("fuzz_schema")
coverage = schemathesis.pytest.from_fixture("coverage_schema")


@fuzz.parametrize()
@fuzz.given(data=st.data())
def test_generated_requests_conform(case: schemathesis.Case, data: st.DataObject, corral: Corral) -> None:
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
    _send(case, identity)


@coverage.parametrize()
def test_coverage_requests_conform(case: schemathesis.Case, corral: Corral) -> None:
    _send(case, _natural_identity(corral, case))
