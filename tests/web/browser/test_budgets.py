"""In Chromium: create a budget, read its usage and forecast, change its limit, delete it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from corral.api.app import create_app
from corral.container import Container
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.governance.budgets.models import BudgetBucket
from corral.governance.budgets.windows import floor
from tests.conftest import make_settings
from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import registered, sign_in


@pytest.fixture
def served_app(tmp_path: Path, database_url: str) -> FastAPI:
    return create_app(make_settings(tmp_path, database_url))


@pytest.fixture
def corral(served_app: FastAPI) -> Iterator[ThreadedServer]:
    """The shared fixture's server, on an app this module can seed rows into."""
    with ThreadedServer(served_app) as server:
        yield server


async def _settled(container: Container, budget_id: str, hours: int) -> None:
    """What hosted runs settled in each of the day's hours so far: a rising spend."""
    now = utcnow()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    async with transaction(container.sessions) as session:
        for hour in range(hours):
            start = day + timedelta(hours=hour)
            if start > floor(now, timedelta(hours=1)):
                break
            session.add(
                BudgetBucket(budget_id=budget_id, bucket_start=start, spent=Decimal(hour % 5) / 4)
            )


def test_create_edit_and_delete_a_budget(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Budgets").click()
    expect(page.get_by_role("heading", name="Budgets", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("daily spend")
    page.get_by_label("Limit", exact=True).fill("25")
    page.get_by_label("Window", exact=True).select_option("7d")
    page.get_by_label("Scope", exact=True).select_option("agent")
    page.get_by_label(re.compile("^Value")).fill("payer")
    page.get_by_role("button", name="Create budget").click()

    expect(page.get_by_role("heading", name="daily spend", level=1)).to_be_visible()
    expect(page.get_by_test_id("budget-used")).to_have_text("$0.00")
    expect(page.get_by_test_id("forecast")).to_contain_text("per hour")
    expect(page.get_by_role("img", name=re.compile(r"of \$25\.00 used"))).to_be_visible()
    screenshots.take(page, "budget-detail")

    page.get_by_label("Limit", exact=True).fill("40")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("img", name=re.compile(r"of \$40\.00 used"))).to_be_visible()

    page.get_by_role("link", name="← Budgets").click()
    expect(page.get_by_test_id("budget-row")).to_contain_text("agent payer")
    screenshots.take(page, "budgets-list")
    page.get_by_role("link", name="daily spend").click()
    page.get_by_text("Delete budget", exact=True).click()
    page.get_by_role("button", name="Yes, delete budget").click()
    expect(page.get_by_test_id("no-budgets")).to_be_visible()


def test_a_budgets_usage_over_its_window(
    page: Page, corral: ThreadedServer, served_app: FastAPI, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    page.goto("/budgets")
    page.get_by_label("Name", exact=True).fill("daily")
    page.get_by_label("Limit", exact=True).fill("6")
    page.get_by_label(re.compile("^Warning threshold")).fill("75")
    page.get_by_role("button", name="Create budget").click()
    expect(page.get_by_role("heading", name="daily", level=1)).to_be_visible()
    budget_id = page.url.rsplit("/", 1)[1]
    corral.call(_settled(served_app.state.container, budget_id, 24))

    page.reload()
    # htmx loads the chart into the page after it.
    chart = page.get_by_test_id("spend-chart")
    expect(chart.get_by_role("img", name=re.compile(r"^Usage by hour this window"))).to_be_visible()
    used = page.get_by_test_id("budget-used").inner_text()
    page.get_by_text("The numbers", exact=True).click()
    expect(page.get_by_test_id("spend-total")).to_have_text(used)
    screenshots.take(page, "budget-chart")
