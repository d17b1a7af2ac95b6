"""Server time of the dashboard's Overview page with many runs, decisions, budgets and spans.

Seeds a fresh SQLite database (or the PostgreSQL URL in $CORRAL_BENCH_DATABASE_URL) with
RUNS runs spread over the last 10 days, DECISIONS decisions (a quarter of them blocks), BUDGETS
budgets of every window (each with a settled bucket in each of its last 30 steps) and SPANS
spans over the last 10 days, signs in, then times GET / in-process (ASGI, no network),
printing p50/p90/p99.

    .venv/bin/python -m bench.dashboard_overview [RUNS] [DECISIONS] [REQUESTS] [BUDGETS] [SPANS]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
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
from corral.governance.budgets.models import Budget, BudgetBucket
from corral.governance.budgets.usage import window_of
from corral.governance.budgets.windows import LENGTH, ROLLING_BUCKETS, STEP
from corral.governance.models import DecisionRecord
from corral.runs.models import Run
from corral.traces.models import Span

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


async def _seed_budgets(container: Container, org_id: str, app_id: str, budgets: int) -> None:
    now = utcnow()
    kinds = [(w, k) for w in LENGTH for k in ("fixed", "rolling")]
    rows: list[Budget] = []
    for i in range(budgets):
        window, kind = kinds[i % len(kinds)]
        rows.append(
            Budget(
                id=new_id("bgt"),
                org_id=org_id,
                application_id=app_id,
                name=f"budget {i}",
                metric="spend_usd",
                limit_value=Decimal(100 + i),
                window=window,
                window_kind=kind,
                scope="application",
                scope_value="",
                enabled=True,
                created_at=now - timedelta(days=3),
                updated_at=now,
            )
        )
    async with transaction(container.sessions) as session:
        session.add_all(rows)
        await session.flush()
        for budget in rows:
            current = window_of(budget, now)
            step = (
                STEP[budget.window]
                if budget.window_kind == "fixed"
                else LENGTH[budget.window] / ROLLING_BUCKETS
            )
            starts = {max(current.start, current.bucket - step * n) for n in range(30)}
            session.add_all(
                BudgetBucket(
                    budget_id=budget.id, bucket_start=start, reserved=Decimal(0), spent=Decimal(1)
                )
                for start in starts
            )


async def _seed_spans(container: Container, org_id: str, app_id: str, spans: int) -> None:
    now = utcnow()
    rows = [
        {
            "id": new_id("spn"),
            "org_id": org_id,
            "application_id": app_id,
            "trace_id": f"{i // 10:032x}",
            "span_id": f"{i:016x}",
            "name": "call",
            "kind": "internal",
            "category": "llm",
            "call_name": "llm.x",
            "start_time": now - timedelta(seconds=(i * 86400 * 10) // max(spans, 1)),
            "end_time": now,
            "duration_ms": 5,
            "status": "ok",
            "attributes": {},
            "resource_attributes": {},
            "events": [],
        }
        for i in range(spans)
    ]
    for start in range(0, len(rows), 20_000):
        async with transaction(container.sessions) as session:
            for chunk in range(start, min(start + 20_000, len(rows)), 2000):
                await session.execute(insert(Span), rows[chunk : chunk + 2000])


async def main(runs: int, decisions: int, requests: int, budgets: int, spans: int) -> None:
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
                container = app.state.container
                await _seed(container, me["org_id"], me["application_id"], runs, decisions)
                await _seed_budgets(container, me["org_id"], me["application_id"], budgets)
                await _seed_spans(container, me["org_id"], me["application_id"], spans)
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
    print(
        f"overview: {runs} runs, {decisions} decisions, {budgets} budgets, {spans} spans, "
        f"{requests} requests (in-process)"
    )
    print(f"  p50 {quantiles[49]:.2f} ms  p90 {quantiles[89]:.2f} ms  p99 {quantiles[98]:.2f} ms")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:6]]
    defaults = [10_000, 100_000, 200, 200, 100_000]
    runs, decisions, requests, budgets, spans = (arguments + defaults[len(arguments) :])[:5]
    asyncio.run(main(runs, decisions, requests, budgets, spans))
