"""Real-browser fixtures: Debian's Chromium driven by Playwright against a real uvicorn server.

Playwright never downloads a browser here: it launches `/usr/bin/chromium`. Without it the
tests skip with the reason, except under CI=true, where a missing browser is a failure.
Screenshots go to `$CORRAL_TEST_ARTIFACTS/screenshots` (else the test's tmp_path).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from corral.api.app import create_app
from tests.conftest import make_settings
from tests.servers import ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + ": browser tests must run in CI")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def corral(tmp_path: Path, database_url: str) -> Iterator[ThreadedServer]:
    """Corral served by uvicorn on a free port."""
    app = create_app(make_settings(tmp_path, database_url))
    with ThreadedServer(app) as server:
        yield server


@pytest.fixture
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            launched.close()


class Screenshots:
    def __init__(self, directory: Path, prefix: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.prefix = prefix

    def take(self, page: Page, name: str) -> Path:
        path = self.directory / f"{self.prefix}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Screenshots:
    configured = os.environ.get("CORRAL_TEST_ARTIFACTS")
    base = Path(configured) if configured else tmp_path
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Screenshots(base / "screenshots", prefix)


@pytest.fixture
def page(corral: ThreadedServer, browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the server, failing on any console error.

    The server (and its async database fixture) comes first: while the sync Playwright API is
    started its event loop runs, and pytest-asyncio cannot set up async fixtures inside it.
    """
    context = browser.new_context(base_url=corral.base_url)
    opened = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # A page answered 401 or 422 (a refused form) is logged too; responses are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} {response.url}")

    opened.on("console", on_console)
    opened.on("response", on_response)
    opened.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
    opened.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield opened
    finally:
        context.close()
    # A blocked script or style (CSP) or a broken asset shows up here.
    assert errors == []
