from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.harness import Devhost
from tests.web.page import ChatPage

CHROMIUM = "/usr/bin/chromium"
# No traffic of Chromium's own (updates, sync, first-run pings): tests reach loopback only.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (no browser download)."""
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def slow_devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    """A demo model slow enough to act mid-answer, and streams that end by plan every second."""
    host = Devhost(
        tmp_path_factory.mktemp("slow-devhost") / "data",
        {"DEMO_TOKENS_PER_SECOND": "15", "STREAM_MAX_SECONDS": "1", "STREAM_RETRY_MS": "100"},
    ).start()
    yield host
    host.stop()


@pytest.fixture
def chat(browser: Browser) -> Iterator[list[ChatPage]]:
    """Pages opened by a test, closed after it; none may have thrown."""
    opened: list[ChatPage] = []
    yield opened
    for page in opened:
        assert page.errors == [], page.errors
        page.close()
