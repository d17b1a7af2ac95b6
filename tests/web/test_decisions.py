"""The Decisions page in-process: newest first, filters (action, policy, agent, window),
cursor pages, links to traces and policies, escaping, tenants; the Overview's blocked tile."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from corral.core.clock import utcnow
from tests.clients import ApiClient
from tests.traces.support import container_of
from tests.web.policy_support import XSS, create_policy
from tests.web.seeding import add_decision

TRACE = "7" * 32


async def test_filters_links_and_escaping(app: FastAPI, owner: ApiClient) -> None:
    container = container_of(app)
    policy_id = await create_policy(owner)
    call = {"name": "tool.shell", "attributes": {}, "agent": "digger"}
    assert (await owner.post("/api/decisions", json=call)).json()["action"] == "block"
    await add_decision(
        container,
        owner.org_id,
        owner.app_id,
        TRACE,
        call_name=f"tool.{XSS}",
        message=XSS,
        action="require_approval",
        agent="helper",
    )
    await add_decision(
        container,
        owner.org_id,
        owner.app_id,
        TRACE,
        call_name="tool.old",
        created_at=utcnow() - timedelta(days=3),
    )
    page = await owner.get("/decisions")
    assert page.status_code == 200
    assert page.text.count('data-testid="decision-row"') == 3
    assert XSS not in page.text
    assert f'href="/traces/{TRACE}"' in page.text
    assert f'href="/policies/{policy_id}">no shell</a>' in page.text

    blocked = (await owner.get("/decisions?action=block&within=24h")).text
    assert blocked.count('data-testid="decision-row"') == 1
    assert "tool.shell" in blocked
    week = (await owner.get("/decisions?within=7d&action=block")).text
    assert week.count('data-testid="decision-row"') == 2
    by_agent = (await owner.get("/decisions?agent=helper")).text
    assert by_agent.count('data-testid="decision-row"') == 1
    by_policy = (await owner.get(f"/decisions?policy={policy_id}")).text
    assert by_policy.count('data-testid="decision-row"') == 1
    assert (await owner.get("/decisions?within=forever")).status_code == 422


async def test_pages_of_fifty(app: FastAPI, owner: ApiClient) -> None:
    container = container_of(app)
    for n in range(51):
        await add_decision(container, owner.org_id, owner.app_id, TRACE, call_name=f"tool.n{n}")
    first = (await owner.get("/decisions?action=block")).text
    assert first.count('data-testid="decision-row"') == 50
    assert "tool.n50<" in first
    assert 'rel="next"' in first
    start = first.index('href="/decisions?action=block&amp;cursor=') + len('href="')
    next_url = first[start : first.index('"', start)].replace("&amp;", "&")
    second = (await owner.get(next_url)).text
    assert second.count('data-testid="decision-row"') == 1
    assert "tool.n0<" in second


async def test_the_overview_links_blocked_calls_here(app: FastAPI, owner: ApiClient) -> None:
    await add_decision(container_of(app), owner.org_id, owner.app_id, TRACE)
    overview = (await owner.get("/")).text
    assert 'href="/decisions?action=block&amp;within=24h"' in overview


async def test_another_organization_sees_none(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await add_decision(container_of(app), owner.org_id, owner.app_id, TRACE, call_name="tool.x")
    page = await stranger.get("/decisions")
    assert page.status_code == 200
    assert 'data-testid="no-decisions"' in page.text
