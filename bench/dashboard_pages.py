"""Server time of the Runs and Traces pages with many runs and spans.

Seeds a fresh SQLite database (or $CORRAL_BENCH_DATABASE_URL) with RUNS runs over the last 10 days
(each with a few log events) and SPANS spans in traces of SPANS_PER_TRACE spans (one trace of
BIG_TRACE spans for the waterfall), signs in, then times in-process (ASGI, no network):
the runs list, the runs list filtered by status and time, a run's detail, the traces list,
a span search, and the big trace's waterfall; then, with POLICIES policies and DECISIONS
recorded decisions over the last 7 days, the policies list (its match counts), the decisions
list (all, blocked in 24 h, one policy's) and a policy draft simulated over the last 1,000 and
10,000 spans; and (with 50 agents and 50 schedules) the agents list, an agent owning every
run, an agent with none, and the schedules list; and a budget's page and that budget's chart
fragment (loaded by htmx after the page), which groups every span of a rolling 30-day window
(the monitor's measurement of the window, by day). Prints p50/p90/p99 per page.

    .venv/bin/python -m bench.dashboard_pages [RUNS] [SPANS] [REQUESTS] [BIG_TRACE]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import insert, update

from bench.dashboard_overview import PASSWORD, STATUSES, _settings
from corral.api.app import create_app
from corral.container import Container
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import earliest_id, new_id
from corral.core.logging import configure as configure_logging
from corral.core.settings import LogSettings
from corral.governance.budgets.models import Budget
from corral.governance.budgets.usage import window_of
from corral.governance.models import DecisionPolicy, DecisionRecord, PolicyRecord
from corral.runs.models import Run, RunEvent
from corral.traces.models import Span, Trace

SPANS_PER_TRACE = 100
BATCH = 2000
BIG_TRACE_ID = "b" * 32
POLICIES = 20
DECISIONS = 100_000
# Simulations are slower than pages: fewer of them.
SIMULATIONS = 10


def _run_rows(org_id: str, app_id: str, runs: int) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "id": new_id("run"),
            "org_id": org_id,
            "application_id": app_id,
            "agent_name": "bench",
            "manifest": {},
            "prompt": "",
            "status": STATUSES[i % len(STATUSES)],
            "input": {"question": f"question {i}"},
            "output": {"answer": i},
            "usage": {"input_tokens": 1000, "output_tokens": 100},
            "trace_id": f"{i:032x}",
            "timeout_seconds": 60,
            "created_by": "bench",
            "next_event_seq": 4,
            "created_at": now - timedelta(minutes=(i * 1440 * 10) // max(runs, 1)),
        }
        for i in range(runs)
    ]


def _trace_spans(
    org_id: str, app_id: str, trace_id: str, count: int, start_offset: timedelta
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    start = utcnow() - start_offset
    spans: list[dict[str, Any]] = []
    for n in range(count):
        # A root, then children of the root and grandchildren of every tenth span.
        parent = None if n == 0 else f"{(n // 10) * 10 if n % 10 else 0:016x}"
        begins = start + timedelta(milliseconds=n * 7)
        spans.append(
            {
                "id": new_id("spn"),
                "org_id": org_id,
                "application_id": app_id,
                "trace_id": trace_id,
                "span_id": f"{n:016x}",
                "parent_span_id": parent if parent != f"{n:016x}" else None,
                "name": f"call {n}",
                "kind": "internal",
                "category": ("llm", "tool", "other")[n % 3],
                "call_name": "tool.search",
                "start_time": begins,
                "end_time": begins + timedelta(milliseconds=50),
                "duration_ms": 50,
                "status": "error" if n % 97 == 0 else "ok",
                "status_message": "",
                "agent_name": "bench",
                "attributes": {"query": f"value {n}", "gen_ai.usage.input_tokens": n},
                "resource_attributes": {},
                "events": [],
            }
        )
    trace = {
        "id": new_id("trc"),
        "org_id": org_id,
        "application_id": app_id,
        "trace_id": trace_id,
        "start_time": start,
        "end_time": start + timedelta(milliseconds=(count - 1) * 7 + 50),
        "span_count": count,
        "error_count": sum(1 for s in spans if s["status"] == "error"),
        "root_name": "call 0",
        "agent_name": "bench",
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": Decimal(0),
    }
    return spans, trace


async def _seed(
    container: Container, org_id: str, app_id: str, runs: int, spans: int, big: int
) -> str:
    run_rows = _run_rows(org_id, app_id, runs)
    async with transaction(container.sessions) as session:
        for start in range(0, len(run_rows), BATCH):
            chunk = run_rows[start : start + BATCH]
            await session.execute(insert(Run), chunk)
            events = [
                {
                    "run_id": r["id"],
                    "seq": seq,
                    "at": r["created_at"],
                    "kind": "log",
                    "data": {"line": f"line {seq}"},
                }
                for r in chunk
                for seq in (1, 2, 3)
            ]
            await session.execute(insert(RunEvent), events)
    traces = max((spans - big) // SPANS_PER_TRACE, 0)
    pending_spans: list[dict[str, Any]] = []
    pending_traces: list[dict[str, Any]] = []
    window = timedelta(days=10)
    for t in range(traces + 1):
        if t == traces:
            rows, trace = _trace_spans(org_id, app_id, BIG_TRACE_ID, big, timedelta(hours=1))
        else:
            offset = window * t / max(traces, 1) + timedelta(hours=2)
            rows, trace = _trace_spans(org_id, app_id, f"{t:032x}", SPANS_PER_TRACE, offset)
        pending_spans.extend(rows)
        pending_traces.append(trace)
        if len(pending_spans) >= 20_000 or t == traces:
            async with transaction(container.sessions) as session:
                for start in range(0, len(pending_spans), BATCH):
                    await session.execute(insert(Span), pending_spans[start : start + BATCH])
                await session.execute(insert(Trace), pending_traces)
            pending_spans, pending_traces = [], []
    return str(run_rows[len(run_rows) // 2]["id"])


def _governance_rows(
    org_id: str, app_id: str, decisions: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Policies, and decisions over the last 7 days each naming the policy that decided."""
    now = utcnow()
    policies: list[dict[str, Any]] = [
        {
            "id": new_id("pol"),
            "org_id": org_id,
            "application_id": app_id,
            "name": f"policy {n}",
            "description": "",
            "expression": f'name == "tool.n{n}"',
            "action": "block" if n % 2 else "log",
            "action_config": {},
            "priority": n,
            "applies_to": [],
            "enabled": True,
            "shadow": n % 5 == 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(POLICIES)
    ]
    records: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    for i in range(decisions):
        policy = policies[i % POLICIES]
        made = now - timedelta(seconds=i * 7 * 86_400 / max(decisions, 1))
        # Ids are time-ordered like the ones evidence gets when it is recorded.
        record_id = earliest_id("dec", made)
        records.append(
            {
                "id": record_id,
                "org_id": org_id,
                "application_id": app_id,
                "decision_id": f"d{i}",
                "source": "sdk",
                "call_name": "tool.search",
                "agent": "bench",
                "action": policy["action"],
                "policy_id": policy["id"],
                "policy_name": policy["name"],
                "trace_id": f"{i:032x}",
                "created_at": made,
            }
        )
        roles.append(
            {
                "record_id": record_id,
                "policy_id": policy["id"],
                "role": "decided",
                "application_id": app_id,
            }
        )
    return policies, records, roles


async def _seed_governance(container: Container, org_id: str, app_id: str, decisions: int) -> str:
    policies, records, roles = _governance_rows(org_id, app_id, decisions)
    async with transaction(container.sessions) as session:
        await session.execute(insert(PolicyRecord), policies)
        for start in range(0, len(records), BATCH):
            await session.execute(insert(DecisionRecord), records[start : start + BATCH])
            await session.execute(insert(DecisionPolicy), roles[start : start + BATCH])
    return str(policies[1]["id"])


async def _time_simulation(web: httpx2.AsyncClient, spans: int, requests: int) -> list[float]:
    draft = {
        "name": "draft",
        "description": "",
        "expression": 'name == "tool.search" && attrs["query"].endsWith("7")',
        "action": "block",
        "action_config": "{}",
        "priority": "0",
        "applies_to": "",
        "enabled": "on",
        "shadow": "",
        "spans": str(spans),
    }
    headers = {"HX-Request": "true"}
    timings: list[float] = []
    for n in range(requests + 1):
        started = time.perf_counter()
        response = await web.post("/policies/simulate", data=draft, headers=headers)
        assert response.status_code == 200, response.text
        assert f"of the last {spans} " in response.text, response.text
        if n:  # the first warms up
            timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


async def _governance_timings(
    web: httpx2.AsyncClient, container: Container, me: dict[str, Any], requests: int
) -> dict[str, list[float]]:
    policy_id = await _seed_governance(container, me["org_id"], me["application_id"], DECISIONS)
    pages = {
        f"policies list ({POLICIES}, counts)": "/policies",
        "decisions list": "/decisions",
        "decisions blocked, 24 h": "/decisions?action=block&within=24h",
        "decisions of one policy": f"/decisions?policy={policy_id}",
    }
    results = {name: await _time(web, url, requests) for name, url in pages.items()}
    for spans in (1000, 10_000):
        results[f"simulate over {spans} spans"] = await _time_simulation(web, spans, SIMULATIONS)
    return results


AGENTS = 50
SCHEDULES = 50


async def _seed_agents(web: httpx2.AsyncClient, container: Container) -> None:
    """AGENTS agents (each published twice), every seeded run belonging to the first ("bench"),
    none to "quiet", and SCHEDULES schedules of "bench"."""
    agent_ids: dict[str, str] = {}
    for n in range(AGENTS):
        name = "bench" if n == 0 else "quiet" if n == 1 else f"agent-{n}"
        manifest = {
            "name": name,
            "version": "1.0.0",
            "description": f"Agent {n}",
            "input_schema": {"type": "object", "properties": {"question": {"type": "string"}}},
            "model": {"provider": "scripted", "turns": [{"output": {}}]},
        }
        created = await web.post("/api/agents", json={"manifest": manifest, "prompt": "Answer."})
        assert created.status_code == 201, created.text
        agent_ids[name] = created.json()["id"]
        manifest["version"] = "1.1.0"
        assert (
            await web.put(f"/api/agents/{name}/draft", json={"manifest": manifest, "prompt": "2"})
        ).status_code == 200
        assert (await web.post(f"/api/agents/{name}/publish")).status_code == 201
    async with transaction(container.sessions) as session:
        await session.execute(
            update(Run).where(Run.agent_name == "bench").values(agent_id=agent_ids["bench"])
        )
    for n in range(SCHEDULES):
        body = {
            "name": f"schedule {n}",
            "agent": "bench",
            "cron": f"{n % 60} */2 * * 1-5",
            "timezone": "Europe/Paris",
            "input": {"question": "scheduled"},
        }
        assert (await web.post("/api/schedules", json=body)).status_code == 201


async def _budget(container: Container, org_id: str, app_id: str) -> str:
    """A 30-day rolling budget of the whole application, as the monitor leaves it after a pass
    (so its page groups the window's spans)."""
    now = utcnow()
    budget = Budget(
        id=new_id("bgt"),
        org_id=org_id,
        application_id=app_id,
        name="month",
        metric="spend_usd",
        limit_value=Decimal(100),
        window="30d",
        window_kind="rolling",
        scope="application",
        scope_value="",
        enabled=True,
        # Nonzero, or the page would skip the spans' query as having nothing to split.
        observed=Decimal(1),
        created_at=now,
        updated_at=now,
    )
    budget.observed_window_start = window_of(budget, now).start
    budget.observed_at = now
    async with transaction(container.sessions) as session:
        session.add(budget)
    return budget.id


async def _time(web: httpx2.AsyncClient, url: str, requests: int) -> list[float]:
    for _ in range(5):
        assert (await web.get(url)).status_code == 200, url
    timings: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await web.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return sorted(timings)


async def main(runs: int, spans: int, requests: int, big: int) -> None:
    configure_logging(LogSettings(level="WARNING"))
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(_settings(Path(scratch)))
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://bench") as web:
                body = {"email": "bench@example.com", "password": PASSWORD, "name": "Bench"}
                registered = await web.post("/api/auth/register", json=body)
                assert registered.status_code == 201
                web.headers["X-CSRF-Token"] = registered.json()["csrf_token"]
                me = (await web.get("/api/me")).json()
                seeding = time.perf_counter()
                run_id = await _seed(
                    app.state.container, me["org_id"], me["application_id"], runs, spans, big
                )
                await _seed_agents(web, app.state.container)
                seeded_s = time.perf_counter() - seeding
                budget_id = await _budget(app.state.container, me["org_id"], me["application_id"])
                pages = {
                    "runs list": "/runs",
                    "runs failed, 24 h": "/runs?status=failed&window=24h",
                    "run detail": f"/runs/{run_id}",
                    "traces list": "/traces",
                    "traces with errors, 7 d": "/traces?status=error&window=7d",
                    "span search q=value 4": "/traces?q=value%204",
                    f"trace waterfall ({big} spans)": f"/traces/{BIG_TRACE_ID}",
                    f"agents list ({AGENTS})": "/agents",
                    f"agent with {runs} runs": "/agents/bench",
                    "agent with no runs": "/agents/quiet",
                    f"schedules ({SCHEDULES})": "/schedules",
                    "budget page, 30 d rolling": f"/budgets/{budget_id}",
                    "budget chart fragment, 30 d": f"/budgets/{budget_id}/chart",
                }
                results = {name: await _time(web, url, requests) for name, url in pages.items()}
                container = app.state.container
                results.update(await _governance_timings(web, container, me, requests))
    print(f"dashboard pages: {runs} runs, {spans} spans, {requests} requests each (in-process)")
    print(f"  and {POLICIES} policies, {DECISIONS} decisions; {SIMULATIONS} simulations each")
    print(f"  seeding took {seeded_s:.0f} s")
    for name, timings in results.items():
        q = statistics.quantiles(timings, n=100)
        print(f"  {name:34} p50 {q[49]:7.2f} ms  p90 {q[89]:7.2f} ms  p99 {q[98]:7.2f} ms")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:5]]
    defaults = [10_000, 1_000_000, 100, 200]
    runs, spans, requests, big = (arguments + defaults[len(arguments) :])[:4]
    asyncio.run(main(runs, spans, requests, big))
