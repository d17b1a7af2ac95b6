"""In Chromium: sign up, onboarding names the application, the connect step shows the key and
a snippet that runs against this server, then the header's switcher changes the application."""

from __future__ import annotations

import contextlib
import io

import httpx2
from playwright.sync_api import Page, expect

from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots
from tests.web.browser.onboarding import sign_up_and_onboard

# Tests configure this public URL; the browser tests' server listens on a free port.
_CONFIGURED_PUBLIC_URL = "http://127.0.0.1:4318"


def test_sign_up_onboard_connect_and_switch_applications(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    onboarded = sign_up_and_onboard(page, corral.base_url)
    assert onboarded.api_key.startswith("crl_")
    expect(page.get_by_role("heading", name="Connect an agent", level=1)).to_be_visible()
    assert f'Client("{onboarded.api_key}", "{_CONFIGURED_PUBLIC_URL}"' in onboarded.python_snippet
    assert "OTEL_EXPORTER_OTLP_HEADERS" in onboarded.otlp_env
    screenshots.take(page, "connect-light")
    page.emulate_media(color_scheme="dark")
    screenshots.take(page, "connect-dark")
    page.emulate_media(color_scheme="light")

    # The key reads what the SDK reads (a client failing open would not tell a refused key).
    with httpx2.Client(base_url=corral.base_url, timeout=60) as agent:
        agent.headers["Authorization"] = f"Bearer {onboarded.api_key}"
        assert agent.get("/api/policies/bundle").status_code == 200
        assert agent.get("/api/halts/active").status_code == 200
    # The snippet as shown runs against this server.
    runnable = onboarded.python_snippet.replace(_CONFIGURED_PUBLIC_URL, corral.base_url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(runnable, "<connect snippet>", "exec"), {})  # noqa: S102 — the page's own snippet
    assert printed.getvalue() == "ran ls\n"

    page.goto("/onboarding")
    expect(page.get_by_test_id("step-application")).to_contain_text(onboarded.application)
    screenshots.take(page, "onboarding-done")

    # A second application, then back to the first through the header's switcher.
    page.goto("/settings/application")
    page.locator("#new-app-name").fill("batch-jobs")
    page.get_by_role("button", name="Create application").click()
    expect(page.get_by_role("heading", name="Application: batch-jobs")).to_be_visible()
    switcher = page.get_by_test_id("app-switcher")
    expect(switcher).to_be_visible()
    # With scripts the choice submits itself; the no-script button is hidden.
    expect(page.get_by_role("button", name="Switch")).to_be_hidden()
    screenshots.take(page, "settings-application")
    switcher.select_option(label=onboarded.application)
    expect(
        page.get_by_role("heading", name=f"Application: {onboarded.application}")
    ).to_be_visible()
    session_cookies = {c["name"]: c for c in page.context.cookies()}
    assert session_cookies["corral_application"]["httpOnly"]
    assert session_cookies["corral_application"]["sameSite"] == "Lax"

    page.goto("/account")
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    screenshots.take(page, "account-mfa-enroll")
