"""The Budgets pages: usage against each limit (the bar and its threshold mark), a budget's
forecast, create, edit, delete, who may change them, tenants, CSRF and escaping."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets.models import Budget, BudgetBucket
from corral.governance.budgets.monitor import monitor_pass
from corral.governance.budgets.usage import window_of
from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.traces.support import container_of
from tests.web.seeding import add_trace, span_row
from tests.web.support import post_form

XSS = '<script>alert("owned")</script>'
NEW = {
    "name": "daily spend",
    "metric": "spend_usd",
    "limit": "10",
    "window": "1d",
    "window_kind": "fixed",
    "scope": "application",
    "scope_value": "",
    "threshold_percent": "80",
    "enabled": "on",
}


async def _create(client: ApiClient, **fields: str) -> Any:
    return await post_form(client, "/budgets", "/budgets", **{**NEW, **fields})


async def _spend(app: FastAPI, budget_id: str, amount: str) -> None:
    """What a hosted run's sidecar settles into the budget's current window."""
    async with transaction(container_of(app).sessions) as session:
        budget = await session.get(Budget, budget_id)
        assert budget is not None
        bucket = window_of(budget, utcnow()).bucket
        session.add(BudgetBucket(budget_id=budget_id, bucket_start=bucket, spent=Decimal(amount)))


async def test_create_see_usage_and_forecast_edit_and_delete(
    app: FastAPI, owner: ApiClient
) -> None:
    created = await _create(owner, name=f"spend {XSS}")
    assert created.status_code == 303, created.text
    budget_id = created.headers["location"].removeprefix("/budgets/")
    assert budget_id.startswith("bgt_")
    await _spend(app, budget_id, "8.5")

    listed = (await owner.get("/budgets")).text
    assert XSS not in listed
    assert "spend &lt;script&gt;" in listed
    assert "$8.50 of $10.00 used (85.0%); warning at 80%" in listed
    assert 'class="usage-bar warning"' in listed
    assert 'x1="80"' in listed  # the threshold's mark

    detail = await owner.get(f"/budgets/{budget_id}")
    assert detail.status_code == 200, detail.text
    assert 'data-testid="budget-used">$8.50<' in detail.text
    assert "Burn rate" in detail.text
    assert "per hour" in detail.text
    chart = (await owner.get(f"/budgets/{budget_id}/chart")).text
    assert XSS not in chart
    assert "spend &lt;script&gt;" in chart

    edited = await post_form(
        owner,
        f"/budgets/{budget_id}",
        f"/budgets/{budget_id}",
        name="daily",
        limit="8",
        threshold_percent="",
        enabled="on",
    )
    assert edited.status_code == 303, edited.text
    read = (await owner.get(f"/api/budgets/{budget_id}")).json()
    assert (read["name"], Decimal(read["limit"]), read["threshold_percent"]) == (
        "daily",
        Decimal(8),
        None,
    )
    assert 'class="usage-bar exceeded"' in (await owner.get(f"/budgets/{budget_id}")).text

    deleted = await post_form(owner, f"/budgets/{budget_id}", f"/budgets/{budget_id}/delete")
    assert deleted.status_code == 303, deleted.text
    assert deleted.headers["location"] == "/budgets"
    assert (await owner.get(f"/api/budgets/{budget_id}")).status_code == 404
    assert "No budgets yet" in (await owner.get("/budgets")).text


async def test_refusals_show_the_form_again(owner: ApiClient) -> None:
    bad_limit = await _create(owner, limit="lots")
    assert bad_limit.status_code == 422
    assert "limit" in bad_limit.text
    assert 'value="lots"' in bad_limit.text
    no_value = await _create(owner, scope="agent", scope_value="")
    assert no_value.status_code == 422
    assert "needs a scope_value" in no_value.text
    unknown = await _create(owner, scope="end_user", scope_value="nobody")
    assert unknown.status_code == 404
    assert "end-user not found" in unknown.text
    assert (await owner.get("/api/budgets")).json()["data"] == []

    budget_id = (await _create(owner)).headers["location"].removeprefix("/budgets/")
    calls = await _create(owner, metric="calls", limit="100")
    calls_id = calls.headers["location"].removeprefix("/budgets/")
    fraction = await post_form(
        owner, f"/budgets/{calls_id}", f"/budgets/{calls_id}", name="calls", limit="1.5"
    )
    assert fraction.status_code == 409
    assert "whole number" in fraction.text
    # The refused change wrote nothing, not even the new name.
    assert (await owner.get(f"/api/budgets/{calls_id}")).json()["name"] == "daily spend"
    negative = await post_form(
        owner, f"/budgets/{budget_id}", f"/budgets/{budget_id}", name="x", limit="-1"
    )
    assert negative.status_code == 422


async def test_a_viewer_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    budget_id = (await _create(owner)).headers["location"].removeprefix("/budgets/")
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        assert "daily spend" in (await vera.get("/budgets")).text
        for path in ("/budgets", f"/budgets/{budget_id}", f"/budgets/{budget_id}/chart"):
            page = (await vera.get(path)).text
            assert '<form method="post" action="/budgets' not in page
        assert 'data-testid="spend-chart"' in (await vera.get(f"/budgets/{budget_id}/chart")).text
        for action, fields in (
            ("/budgets", NEW),
            (f"/budgets/{budget_id}", {"name": "mine", "limit": "1"}),
            (f"/budgets/{budget_id}/delete", {}),
        ):
            forged = await post_form(vera, "/budgets", action, **fields)
            assert forged.status_code == 403, action
            assert "budgets:write" in forged.text
    assert [b["name"] for b in (await owner.get("/api/budgets")).json()["data"]] == ["daily spend"]


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    budget_id = (await _create(owner)).headers["location"].removeprefix("/budgets/")
    assert budget_id not in (await stranger.get("/budgets")).text
    assert (await stranger.get(f"/budgets/{budget_id}")).status_code == 404
    for headers in ({}, {"HX-Request": "true"}):
        chart = await stranger.get(f"/budgets/{budget_id}/chart", headers=headers)
        assert chart.status_code == 404
    for action in (f"/budgets/{budget_id}", f"/budgets/{budget_id}/delete"):
        attempt = await post_form(stranger, "/budgets", action, name="x", limit="1")
        assert attempt.status_code == 404, action
        assert "budget not found" in attempt.text
    assert (await owner.get(f"/api/budgets/{budget_id}")).json()["name"] == "daily spend"


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    owner.headers.pop("X-CSRF-Token")
    for extra in ({}, {"csrf_token": "guessed"}):
        refused = await owner.post("/budgets", data={**NEW, **extra})
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert "No budgets yet" in (await owner.get("/budgets")).text


async def test_signed_out_goes_to_sign_in(client: ApiClient) -> None:
    answer = await client.get("/budgets")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fbudgets"


async def test_the_chart_adds_up_to_the_usage_shown(app: FastAPI, owner: ApiClient) -> None:
    created = await _create(owner, window="7d", window_kind="rolling", threshold_percent="50")
    budget_id = created.headers["location"].removeprefix("/budgets/")
    await _spend(app, budget_id, "1.25")
    now = utcnow()
    for ago, cost in ((timedelta(hours=1), "2"), (timedelta(days=3), "0.5")):
        start = now - ago
        trace = secrets.token_hex(16)
        row = span_row(owner.org_id, owner.app_id, trace, "1" * 16, None, start, 5)
        row.update(category="llm", cost_usd=Decimal(cost))
        await add_trace(container_of(app), owner.org_id, owner.app_id, trace, [row])
    await monitor_pass(container_of(app).sessions, utcnow())

    detail = (await owner.get(f"/budgets/{budget_id}")).text
    assert 'data-testid="budget-used">$3.75<' in detail
    # The page only points at the chart: htmx loads it after, a link stands in without scripts.
    assert 'data-testid="spend-chart"' not in detail
    assert f'hx-get="/budgets/{budget_id}/chart" hx-trigger="load"' in detail
    assert f'<a href="/budgets/{budget_id}/chart"' in detail

    fragment = await owner.get(f"/budgets/{budget_id}/chart", headers={"HX-Request": "true"})
    assert fragment.status_code == 200, fragment.text
    page = fragment.text
    assert "<html" not in page
    assert 'data-testid="spend-total">$3.75<' in page
    assert 'aria-label="Usage by day this window: $3.75 of $10.00"' in page
    # A bar and a row for each day the window touches (a ninth just after midnight).
    numbers = page.split('data-testid="spend-numbers"')[1]
    assert page.count('<rect class="bar') == numbers.count("<tr><td>") in (8, 9)
    assert '<line class="limit"' in page
    assert '<line class="threshold"' in page

    # Without scripts the same chart is a page of its own.
    whole = await owner.get(f"/budgets/{budget_id}/chart")
    assert whole.status_code == 200
    assert "<html" in whole.text
    assert 'data-testid="spend-total">$3.75<' in whole.text
