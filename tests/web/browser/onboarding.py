"""Browser helpers for the first run: sign up on the page and go through onboarding to a
working agent key. Other browser tests (journeys) start from `sign_up_and_onboard`."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

from tests.clients import PASSWORD


@dataclass(frozen=True, slots=True)
class Onboarded:
    """What onboarding left: the agent's API key (shown once) and the setup shown with it."""

    email: str
    application: str
    agent: str
    api_key: str
    python_snippet: str
    otlp_env: str


def sign_up_and_onboard(
    page: Page,
    base_url: str,
    *,
    email: str = "ada@example.com",
    name: str = "Ada",
    organization: str = "Analytical Engines",
    application: str = "support-bot",
    agent: str = "ops-bot",
) -> Onboarded:
    """Sign up on /sign-up, name the application on /onboarding, create the agent key on
    /connect; the page is left on the connect step showing the key and the snippets."""
    page.goto("/sign-up")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization name").fill(organization)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base_url}/onboarding")
    page.get_by_label("Application name").fill(application)
    page.get_by_role("button", name="Create application").click()
    expect(page).to_have_url(f"{base_url}/connect")
    page.get_by_label("Agent name").fill(agent)
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("secret-value")
    expect(secret).to_be_visible()
    return Onboarded(
        email=email,
        application=application,
        agent=agent,
        api_key=secret.input_value(),
        python_snippet=page.get_by_test_id("python-snippet").inner_text(),
        otlp_env=page.get_by_test_id("otlp-env").inner_text(),
    )
