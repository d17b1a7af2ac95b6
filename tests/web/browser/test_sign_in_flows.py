"""In Chromium: sign up, land on the overview, sign out, sign in again; and sign in with TOTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx2
import pyotp
from playwright.sync_api import Page, expect

from tests.clients import PASSWORD
from tests.servers import ThreadedServer
from tests.web.browser.conftest import Screenshots

_HTMX_VERSION = "2.0.11"


def _sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_overview_sign_out_and_back_in(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshots.take(page, "sign-in")

    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Your name").fill("Ada <b>Lovelace</b>")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization name").fill("Analytical Engines")
    screenshots.take(page, "sign-up")
    page.get_by_role("button", name="Create account").click()

    # A new organization's owner starts at onboarding (tests/web/browser/test_onboarding.py).
    expect(page).to_have_url(f"{corral.base_url}/onboarding")
    page.get_by_role("link", name="Corral", exact=True).click()
    expect(page).to_have_url(f"{corral.base_url}/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    # The name is shown as typed, as text: the markup in it did not become an element.
    expect(page.get_by_test_id("signed-in-user")).to_have_text("Ada <b>Lovelace</b>")
    expect(page.get_by_test_id("runs-queued")).to_contain_text("0")
    assert page.evaluate("() => window.htmx && window.htmx.version") == _HTMX_VERSION
    main = page.get_by_role("main")
    expect(main).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    screenshots.take(page, "overview-light")

    page.emulate_media(color_scheme="dark")
    dark_background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    screenshots.take(page, "overview-dark")
    # The toggle pins a theme over the system's choice, and the choice survives a reload.
    page.get_by_role("button", name=re.compile("theme", re.I)).click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    light_background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert light_background != dark_background

    # Keyboard users skip the header.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))

    _sign_in(page, "ada@example.com")
    expect(page).to_have_url(f"{corral.base_url}/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()

    # An htmx post carries no form field: the CSRF token comes from hx-headers on <body>.
    page.evaluate("() => htmx.ajax('POST', '/sign-out', {source: document.body, swap: 'none'})")
    expect(page).to_have_url(re.compile(r"/sign-in$"))


def test_sign_in_with_a_totp_second_factor(
    page: Page, corral: ThreadedServer, screenshots: Screenshots
) -> None:
    with httpx2.Client(base_url=corral.base_url) as api:
        registered = api.post(
            "/api/auth/register",
            json={"email": "grace@example.com", "password": PASSWORD, "name": "Grace"},
        )
        assert registered.status_code == 201, registered.text
        api.headers["X-CSRF-Token"] = registered.json()["csrf_token"]
        secret = api.post("/api/auth/mfa/enroll").json()["secret"]
        totp = pyotp.TOTP(secret)
        step = totp.timecode(datetime.now(UTC))
        confirmed = api.post("/api/auth/mfa/confirm", json={"code": totp.generate_otp(step)})
        assert confirmed.status_code == 200, confirmed.text

    page.goto("/sign-in")
    _sign_in(page, "grace@example.com")
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "corral_session"]
    screenshots.take(page, "sign-in-mfa")

    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("the code is wrong")

    # The enrollment code's step is spent; the server also accepts the next one.
    page.get_by_label("Code").fill(totp.generate_otp(step + 1))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{corral.base_url}/")
    expect(page.get_by_test_id("signed-in-user")).to_have_text("Grace")
