"""Server time of the administration pages with a long audit chain.

Seeds a fresh SQLite database (or $CORRAL_BENCH_DATABASE_URL) with EVENTS signed audit events in
the application's chain (one in a hundred a `bench.rare` action), signs in through the sign-in
page, then times in-process (ASGI, no network) the audit log unfiltered, filtered to the rare
action, the webhooks, API keys and members pages, and one chain verification.

    .venv/bin/python -m bench.dashboard_admin [EVENTS] [REQUESTS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from bench.dashboard_overview import PASSWORD, _settings
from corral.audit import service as audit
from corral.container import Container
from corral.core.db import transaction
from corral.core.logging import configure as configure_logging
from corral.core.request_context import Actor
from corral.core.settings import LogSettings

PAGES = (
    "/audit",
    "/audit?action=bench.rare",
    "/audit?chain=organization",
    "/webhooks",
    "/api-keys",
    "/members",
)


async def _seed(container: Container, org_id: str, app_id: str, events: int) -> None:
    actor = Actor.system("bench")
    for start in range(0, events, 1000):
        async with transaction(container.sessions) as session:
            for i in range(start, min(start + 1000, events)):
                audit.record(
                    session,
                    actor,
                    "bench.rare" if i % 100 == 0 else "bench.event",
                    target_type="bench",
                    target_id=f"b{i}",
                    org_id=org_id,
                    application_id=app_id,
                    details={"i": i},
                    before={"name": "old"},
                    after={"name": "new"},
                )


async def _time(web: httpx2.AsyncClient, path: str, requests: int) -> list[float]:
    for _ in range(3):
        assert (await web.get(path)).status_code == 200
    timings: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await web.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    return sorted(timings)


async def main(events: int, requests: int) -> None:
    configure_logging(LogSettings(level="WARNING"))
    with tempfile.TemporaryDirectory() as scratch:
        from corral.api.app import create_app

        app = create_app(_settings(Path(scratch)))
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://bench") as web:
                body = {"email": "bench@example.com", "password": PASSWORD, "name": "Bench"}
                assert (await web.post("/api/auth/register", json=body)).status_code == 201
                me = (await web.get("/api/me")).json()
                await _seed(app.state.container, me["org_id"], me["application_id"], events)
                print(f"admin pages: {events} audit events, {requests} requests each (in-process)")
                for path in PAGES:
                    timings = await _time(web, path, requests)
                    q = statistics.quantiles(timings, n=100)
                    print(
                        f"  {path:32} p50 {q[49]:7.2f} ms  p90 {q[89]:7.2f} ms  p99 {q[98]:7.2f} ms"
                    )
                started = time.perf_counter()
                verified = await web.get("/audit/verify")
                seconds = time.perf_counter() - started
                assert "Chain intact" in verified.text
                print(f"  /audit/verify (whole chain)      {seconds * 1000:9.0f} ms")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    events, requests = (arguments + [20_000, 100][len(arguments) :])[:2]
    asyncio.run(main(events, requests))
