"""Rate limiting at the HTTP edge: headers, 429 with Retry-After, per identity, across replicas."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI

from corral.api.app import create_app
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.services import redis_url


def _limited(tmp_path: Path, database_url: str, *, burst: int, redis: str | None = None) -> FastAPI:
    return create_app(
        make_settings(
            tmp_path,
            database_url,
            redis_url=redis,
            rate_limit={"enabled": True, "burst": burst, "requests_per_second": 0.001},
        )
    )


@pytest.fixture
async def limited(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    application = _limited(tmp_path, database_url, burst=3)
    async with application.router.lifespan_context(application):
        yield application


async def test_headers_and_429(limited: FastAPI) -> None:
    async with asgi_client(limited, token="crl_some_unknown_key_123456") as c:
        responses = [await c.get("/api/me") for _ in range(4)]
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in responses)
    refused = responses[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1


async def test_each_credential_has_its_own_bucket(limited: FastAPI) -> None:
    async with asgi_client(limited, token="crl_first_key_aaaaaaaaaaaa") as a:
        for _ in range(3):
            await a.get("/api/me")
        assert (await a.get("/api/me")).status_code == 429
    async with asgi_client(limited, token="crl_second_key_bbbbbbbbbbb") as b:
        assert (await b.get("/api/me")).status_code == 401


async def test_anonymous_requests_are_limited_by_client_ip(limited: FastAPI) -> None:
    async with asgi_client(limited) as c:
        codes = [(await c.get("/api/me")).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


async def test_probes_are_exempt(limited: FastAPI) -> None:
    async with asgi_client(limited) as c:
        codes = {(await c.get("/health")).status_code for _ in range(10)}
    assert codes == {200}


async def test_replicas_share_one_limit_through_redis(tmp_path: Path, database_url: str) -> None:
    """Two app instances (two replicas) on one Redis enforce a single combined limit."""
    url = redis_url()
    async with AsyncExitStack() as stack:
        clients: list[ApiClient] = []
        token = f"crl_shared_{uuid.uuid4().hex}"
        for replica in ("a", "b"):
            application = _limited(tmp_path / replica, database_url, burst=4, redis=url)
            await stack.enter_async_context(application.router.lifespan_context(application))
            clients.append(await stack.enter_async_context(asgi_client(application, token=token)))
        codes = [(await clients[i % 2].get("/api/me")).status_code for i in range(8)]
    assert codes.count(429) == 4
    assert codes[:4] == [401, 401, 401, 401]


async def test_limiter_outage_lets_requests_through(tmp_path: Path, database_url: str) -> None:
    """A dead Redis must not take the API down: requests pass unlimited and are counted."""
    application = _limited(tmp_path, database_url, burst=1, redis="redis://127.0.0.1:1/0")
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        codes = [(await c.get("/api/me")).status_code for _ in range(3)]
        metrics = (await c.get("/metrics")).text
    assert codes == [401, 401, 401]
    assert "corral_rate_limiter_errors_total 3.0" in metrics
