"""In Chromium: create an agent, fix a mistake in its draft, publish, start a run; schedule it
with the fire-time preview following the cron expression as it is typed."""

from __future__ import annotations

import re

import orjson
from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.people import registered, sign_in
from tests.web.test_agents import manifest


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def test_create_edit_publish_and_run_an_agent(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    expect(page.get_by_role("heading", name="Agents", level=1)).to_be_visible()

    page.get_by_label("Manifest (JSON)").fill(_json(manifest()))
    page.get_by_label("Prompt").fill("Route the ticket to a queue.")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="triage", level=1)).to_be_visible()
    expect(page.get_by_test_id("manifest-summary")).to_contain_text("scripted")

    page.get_by_role("link", name="Edit draft").click()
    expect(page.get_by_role("heading", name="Edit triage", level=1)).to_be_visible()
    page.get_by_label("Manifest (JSON)").fill(_json(manifest(version="next")))
    page.get_by_role("button", name="Save draft").click()
    problems = page.get_by_test_id("draft-manifest-problems")
    expect(problems).to_contain_text("is not a semantic version")
    expect(page.get_by_label("Manifest (JSON)")).to_have_value(re.compile('"next"'))
    screenshots.take(page, "agent-editor-error")

    page.get_by_label("Manifest (JSON)").fill(_json(manifest(version="1.1.0")))
    page.get_by_label("Prompt").fill("Route the ticket; say why.")
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_role("heading", name="triage 1.1.0", level=1)).to_be_visible()
    expect(page.get_by_test_id("version-prompt")).to_have_text("Route the ticket; say why.")

    page.get_by_role("link", name="triage", exact=True).click()
    expect(page.get_by_test_id("versions-table")).to_contain_text("1.0.0")
    expect(page.get_by_test_id("draft-state")).to_contain_text("the same as the published")
    page.get_by_label(re.compile("^Input")).fill('{"ticket": 7}')
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_test_id("run-input-problems")).to_contain_text("input/ticket")
    page.get_by_label(re.compile("^Input")).fill('{"ticket": "my invoice is wrong"}')
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("heading", name=re.compile("^Run run_"), level=1)).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_text("queued")
    # No worker runs here: cancel it, which also ends the page's live log before leaving.
    page.get_by_text("Cancel run", exact=True).click()
    page.get_by_role("button", name="Yes, cancel run").click()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    expect(page.get_by_test_id("agent-row")).to_contain_text("1.1.0")
    screenshots.take(page, "agents-list")
    page.get_by_role("link", name="triage", exact=True).click()
    expect(page.get_by_test_id("agent-runs")).to_contain_text("cancelled")
    screenshots.take(page, "agent-detail")
    page.emulate_media(color_scheme="dark")
    screenshots.take(page, "agent-detail-dark")
    page.emulate_media(color_scheme="light")


def test_schedule_an_agent_with_the_cron_preview(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with registered(corral.base_url, "owner@example.com", org="Acme"):
        pass
    sign_in(page, "owner@example.com")
    page.goto("/agents")
    page.get_by_label("Manifest (JSON)").fill(_json(manifest()))
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="triage", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("quarter hours")
    page.get_by_label(re.compile("^Agent")).fill("triage")
    preview = page.get_by_test_id("cron-preview")
    page.get_by_label(re.compile("^Cron")).fill("* * *")
    expect(preview).to_contain_text("5 fields")
    page.get_by_label(re.compile("^Cron")).fill("*/15 * * * *")
    expect(preview.locator("li")).to_have_count(5)
    expect(preview).to_contain_text(re.compile(r":(00|15|30|45) UTC"))
    page.get_by_label("Time zone").fill("Asia/Tokyo")
    expect(preview).to_contain_text("JST")
    page.get_by_label(re.compile("^Input")).fill('{"ticket": "scheduled"}')
    screenshots.take(page, "schedules-form")
    page.get_by_role("button", name="Create schedule").click()

    expect(page.get_by_role("heading", name="quarter hours", level=1)).to_be_visible()
    expect(page.get_by_test_id("schedule-state")).to_contain_text("on · next run")
    page.get_by_text("Disable schedule", exact=True).click()
    page.get_by_role("button", name="Yes, disable schedule").click()
    expect(page.get_by_test_id("schedule-state")).to_have_text("off")
    page.get_by_role("button", name="Enable schedule").click()
    expect(page.get_by_test_id("schedule-state")).to_contain_text("on · next run")

    page.get_by_role("link", name="Schedules", exact=True).first.click()
    expect(page.get_by_test_id("schedule-row")).to_contain_text("*/15 * * * *")
    screenshots.take(page, "schedules-list")
