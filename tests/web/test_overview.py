"""The Overview's spend and ingest tiles: the budgets nearest their limit first, each linking to
its page; spans a minute over the last hour; another organization's numbers left out."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from fastapi import FastAPI

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets.models import Budget, BudgetBucket
from corral.governance.budgets.usage import window_of
from tests.clients import ApiClient
from tests.traces.support import container_of
from tests.web.admin import ESCAPED_XSS, XSS
from tests.web.seeding import add_trace, span_row


async def _budget(client: ApiClient, name: str, limit: str, **fields: object) -> str:
    body = {"name": name, "metric": "spend_usd", "limit": limit, "window": "month", **fields}
    created = await client.post("/api/budgets", json=body)
    assert created.status_code == 201, created.text
    budget_id: str = created.json()["id"]
    return budget_id


async def _spend(app: FastAPI, budget_id: str, amount: str) -> None:
    async with transaction(container_of(app).sessions) as session:
        budget = await session.get(Budget, budget_id)
        assert budget is not None
        bucket = window_of(budget, utcnow()).bucket
        session.add(BudgetBucket(budget_id=budget_id, bucket_start=bucket, spent=Decimal(amount)))


async def _spans(app: FastAPI, client: ApiClient, count: int, ago: timedelta) -> None:
    start = utcnow() - ago
    trace = f"{count:016x}{int(ago.total_seconds()):016x}"
    rows = [
        span_row(client.org_id, client.app_id, trace, f"{n:016x}", None, start, 5)
        for n in range(count)
    ]
    await add_trace(container_of(app), client.org_id, client.app_id, trace, rows)


def _rows(page: str) -> list[str]:
    return re.findall(r'data-testid="spend-row">\s*<a href="(/budgets/bgt_[^"]+)"', page)


async def test_spend_tile_lists_the_budgets_nearest_their_limit_first(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    ids = {}
    for index, (used, limit) in enumerate(
        [("1", "10"), ("9", "10"), ("5", "10"), ("0", "10"), ("12", "10"), ("2", "10")]
    ):
        ids[index] = await _budget(owner, f"budget {index} {XSS}", limit)
        if used != "0":
            await _spend(app, ids[index], used)
    off = await _budget(owner, "off", "1", enabled=False)
    await _spend(app, off, "100")
    theirs = await _budget(stranger, "theirs", "1")
    await _spend(app, theirs, "50")

    page = (await owner.get("/")).text
    assert _rows(page) == [f"/budgets/{ids[i]}" for i in (4, 1, 2, 5, 0)]
    assert "$12.00 of $10.00 (120.0%)" in page
    assert 'class="usage-bar exceeded"' in page
    assert XSS not in page
    assert ESCAPED_XSS in page
    assert 'href="/budgets">All 6 budgets</a>' in page
    assert "/budgets/" + theirs not in page

    other = (await stranger.get("/")).text
    assert _rows(other) == [f"/budgets/{theirs}"]


async def test_spend_tile_without_budgets(owner: ApiClient) -> None:
    page = (await owner.get("/")).text
    assert 'data-testid="spend-tile"' in page
    assert "nothing caps spend" in page


async def test_ingest_rate_counts_the_last_hour_of_spans(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await _spans(app, owner, 150, timedelta(minutes=10))
    await _spans(app, owner, 30, timedelta(minutes=50))
    await _spans(app, owner, 500, timedelta(hours=2))
    await _spans(app, stranger, 600, timedelta(minutes=5))
    page = (await owner.get("/")).text
    tile = re.search(
        r'href="(/traces\?window=1h)" data-testid="ingest-rate">'
        r'<span class="tile-value">(\d+)<',
        page,
    )
    assert tile is not None, page
    assert tile.group(2) == "3"  # 180 spans in 60 minutes
    other = (await stranger.get("/")).text
    assert 'data-testid="ingest-rate"><span class="tile-value">10<' in other
