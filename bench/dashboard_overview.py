"""Server time of the dashboard's Overview page with many runs and decisions.

Seeds a fresh SQLite database (or the PostgreSQL URL in $CORRAL_BENCH_DATABASE_URL) with
RUNS runs spread over the last 10 days and DECISIONS decisions (a quarter of them blocks), signs
in through the sign-in page, then times GET / in-process (ASGI, no network), printing p50/p90/p99.

    .venv/bin/python -m bench.dashboard_overview [RUNS] [DECISIONS] [REQUESTS]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import insert

from corral.api.app import create_app
from corral.container import Container
from corral.core import secrets as server_secrets
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import new_id
from corral.core.logging import configure as configure_logging
from corral.core.settings import LogSettings, Settings
from corral.governance.models import DecisionRecord
from corral.runs.models import Run

PASSWORD = "correct horse battery staple"
STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled")


def _settings(data_dir: Path) -> Settings:
    env = server_secrets.generate_env()
    return Settings.model_validate(
        {
            "env": "development",
            "data_dir": data_dir,
            "database_url": os.environ.get("CORRAL_BENCH_DATABASE_URL"),
            "security": {
                "secret_keys": env["CORRAL_SECRET_KEYS"],
                "encryption_keys": env["CORRAL_ENCRYPTION_KEYS"],
                "audit_hmac_keys": env["CORRAL_AUDIT_HMAC_KEYS"],
                "password_pepper": env["CORRAL_PASSWORD_PEPPER"],
            },
            "rate_limit": {"enabled": False},
            "loops": {"enabled": False},
            "runs": {"worker_in_server": False, "sidecar_pool_size": 0},
        }
    )


async def _seed(container: Container, org_id: str, app_id: str, runs: int, decisions: int) -> None:
    now = utcnow()
    run_rows: list[dict[str, Any]] = [
        {
            "id": new_id("run"),
            "org_id": org_id,
            "application_id": app_id,
            "agent_name": "bench",
            "manifest": {},
            "prompt": "",
            "status": STATUSES[i % len(STATUSES)],
            "input": {},
            "trace_id": f"{i:032x}",
            "timeout_seconds": 60,
            "created_by": "bench",
            "created_at": now - timedelta(minutes=(i * 1440 * 10) // max(runs, 1)),
        }
        for i in range(runs)
    ]
    decision_rows: list[dict[str, Any]] = [
        {
            "id": new_id("dec"),
            "org_id": org_id,
            "application_id": app_id,
            "decision_id": f"d{i}",
            "source": "api",
            "call_name": "tool.shell",
            "action": "block" if i % 4 == 0 else "allow",
            "created_at": now - timedelta(seconds=(i * 86400 * 3) // max(decisions, 1)),
        }
        for i in range(decisions)
    ]
    async with transaction(container.sessions) as session:
        for start in range(0, len(run_rows), 1000):
            await session.execute(insert(Run), run_rows[start : start + 1000])
        for start in range(0, len(decision_rows), 1000):
            await session.execute(insert(DecisionRecord), decision_rows[start : start + 1000])


async def main(runs: int, decisions: int, requests: int) -> None:
    # The access log line of every timed request would be timed too.
    configure_logging(LogSettings(level="WARNING"))
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(_settings(Path(scratch)))
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://bench") as web:
                body = {"email": "bench@example.com", "password": PASSWORD, "name": "Bench"}
                assert (await web.post("/api/auth/register", json=body)).status_code == 201
                me = (await web.get("/api/me")).json()
                await _seed(
                    app.state.container, me["org_id"], me["application_id"], runs, decisions
                )
                for _ in range(10):
                    assert (await web.get("/")).status_code == 200
                timings: list[float] = []
                for _ in range(requests):
                    started = time.perf_counter()
                    response = await web.get("/")
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
    timings.sort()
    quantiles = statistics.quantiles(timings, n=100)
    print(f"overview: {runs} runs, {decisions} decisions, {requests} requests (in-process)")
    print(f"  p50 {quantiles[49]:.2f} ms  p90 {quantiles[89]:.2f} ms  p99 {quantiles[98]:.2f} ms")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:4]]
    runs, decisions, requests = (arguments + [10_000, 100_000, 200][len(arguments) :])[:3]
    asyncio.run(main(runs, decisions, requests))
