"""Server time of every main dashboard page against a database a bench already seeded.

`bench/dashboard_pages.py` seeds 10,000 runs and 1,000,000 spans, which takes most of an hour
on PostgreSQL; this times the pages again on that data (for example after a change, or on a
quieter machine) without seeding. It signs in as the seeded `bench@example.com` (setting that
user's password for this run's pepper, which each bench run generates anew) and times each page
in-process (ASGI, no network). Prints p50/p90/p99 per page.

    CORRAL_BENCH_DATABASE_URL=postgresql://…/bench_pages \\
        .venv/bin/python -m bench.dashboard_timings [REQUESTS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from sqlalchemy import select, update

from bench.dashboard_overview import PASSWORD, _settings
from bench.dashboard_pages import BIG_TRACE_ID
from corral.api.app import create_app
from corral.container import Container
from corral.core.logging import configure as configure_logging
from corral.core.settings import LogSettings
from corral.identity.models import User
from corral.runs.models import Run

EMAIL = "bench@example.com"
PAGES = {
    "overview": "/",
    "runs list": "/runs",
    "runs failed, 24 h": "/runs?status=failed&window=24h",
    "traces list": "/traces",
    "traces with errors, 7 d": "/traces?status=error&window=7d",
    "span search q=value 4": "/traces?q=value%204",
    "trace waterfall": f"/traces/{BIG_TRACE_ID}",
    "agents": "/agents",
    "schedules": "/schedules",
    "policies": "/policies",
    "policy templates": "/policies/templates",
    "decisions": "/decisions",
    "decisions blocked, 24 h": "/decisions?action=block&within=24h",
    "approvals": "/approvals",
    "halts": "/halts",
    "budgets": "/budgets",
    "audit": "/audit",
    "webhooks": "/webhooks",
    "connections": "/connections",
    "model providers": "/providers",
    "api keys": "/api-keys",
    "members": "/members",
    "application settings": "/settings/application",
}


async def _prepare(container: Container) -> str:
    """A run in the middle of the seeded ones; the bench user signs in with PASSWORD."""
    async with container.sessions() as session, session.begin():
        await session.execute(
            update(User)
            .where(User.email == EMAIL)
            .values(password_hash=container.accounts.passwords.hash(PASSWORD))
        )
        count = len((await session.scalars(select(Run.id).limit(10_000))).all())
        run_id = await session.scalar(select(Run.id).order_by(Run.id).offset(count // 2).limit(1))
    if run_id is None:
        raise SystemExit("no runs: seed the database with bench/dashboard_pages.py first")
    return run_id


async def _time(web: httpx2.AsyncClient, url: str, requests: int) -> list[float]:
    for _ in range(3):
        assert (await web.get(url)).status_code == 200, url
    timings: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await web.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return timings


async def main(requests: int) -> None:
    configure_logging(LogSettings(level="WARNING"))
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(_settings(Path(scratch)))
        async with app.router.lifespan_context(app):
            run_id = await _prepare(app.state.container)
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://bench") as web:
                body = {"email": EMAIL, "password": PASSWORD}
                assert (await web.post("/api/auth/login", json=body)).status_code == 200
                print(f"dashboard pages on the seeded database, {requests} requests each")
                for name, url in {**PAGES, "run detail": f"/runs/{run_id}"}.items():
                    q = statistics.quantiles(await _time(web, url, requests), n=100)
                    print(
                        f"  {name:26} p50 {q[49]:7.2f} ms  p90 {q[89]:7.2f} ms  p99 {q[98]:7.2f} ms"
                    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
