"""How soon a waiter learns an approval's answer: the `?wait=` long-poll against a decision.

In one process on SQLite (the embedded tier): an API key asks for an approval, a long-poll
`GET /api/approvals/{id}?wait=30` waits on it, a second person approves, and the time from the
approve request to the long-poll's answer is measured (the in-process signal path; across
replicas Redis pub/sub adds a round trip, and without either a waiter learns within its poll).

    .venv/bin/python -m bench.approval_wakeup --rounds 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings

from corral.api.app import create_app


async def _round(agent: ApiClient, person: ApiClient) -> float:
    created = await agent.post("/api/approvals", json={"name": "tool.transfer", "arguments": {}})
    approval_id = created.json()["id"]
    waiter = asyncio.create_task(agent.get(f"/api/approvals/{approval_id}?wait=30"))
    # Let the long-poll park (its first read done, no connection held).
    for _ in range(50):
        await asyncio.sleep(0)
    started = time.perf_counter()
    await person.post(f"/api/approvals/{approval_id}/approve")
    answer = await waiter
    assert answer.json()["status"] == "approved", answer.text
    return (time.perf_counter() - started) * 1000


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        settings = make_settings(Path(directory), None)
        app = create_app(settings)
        async with app.router.lifespan_context(app), asgi_client(app) as owner:
            await owner.register("owner@example.com", org="Bench")
            policy = {
                "name": "approve",
                "expression": "true",
                "action": "require_approval",
                "applies_to": ["tool.transfer"],
            }
            await owner.post("/api/policies", json=policy)
            key = await owner.create_key(["decisions:write"])
            async with asgi_client(app, token=key["key"]) as agent:
                timings = [await _round(agent, owner) for _ in range(rounds)]
    timings.sort()
    print(
        f"approve → long-poll answered, {rounds} rounds (ms, includes the approve request): "
        f"median {statistics.median(timings):.1f}, "
        f"p90 {timings[int(len(timings) * 0.9) - 1]:.1f}, max {timings[-1]:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args().rounds))
