"""The front-end stacks' pages (React, built by vite once per session), a devhost, and CopilotKit's runtime.

Nothing in a page may reach past loopback: `open_page` aborts any other request.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.harness import ROOT, Devhost, free_port, wait_until

HERE = Path(__file__).resolve().parent
VITE_CONFIG = HERE / "pages" / "vite.config.mjs"
LOOPBACK = "http://127.0.0.1:"


@pytest.fixture(scope="session")
def built_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pages")
    completed = subprocess.run(
        ["npx", "--no-install", "vite", "build", "--config", str(VITE_CONFIG)],
        cwd=ROOT,
        env={**os.environ, "PAGES_OUT_DIR": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


@pytest.fixture(scope="package")
def frontend_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    """Paced so that an answer streams for a few seconds: long enough to reload mid-answer."""
    host = Devhost(tmp_path_factory.mktemp("frontends") / "data", {"DEMO_TOKENS_PER_SECOND": "30"}).start()
    yield host
    host.stop()


@pytest.fixture(scope="package")
def copilotkit_url(
    frontend_host: Devhost, built_pages: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """CopilotKit's runtime (Node) on loopback, fronting the devhost, serving the built pages."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("copilotkit") / "runtime.log"
    env = {**os.environ, "COPILOTKIT_TELEMETRY_DISABLED": "true", "DO_NOT_TRACK": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["node", str(HERE / "copilotkit_server.mjs"), str(port), f"{frontend_host.url}/api", str(built_pages)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the CopilotKit runtime exited with {process.returncode}:\n{log_path.read_text()}")
        return "listening" in log_path.read_text()

    try:
        wait_until(listening, timeout=60, message=f"the CopilotKit runtime (log: {log_path})")
        yield f"{LOOPBACK}{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def open_page(browser: Browser, url: str, *, pages: Path | None = None, origin: str = "") -> tuple[Page, list[str]]:
    """A fresh browser context on `url`, and the list of the requests it tried beyond loopback (refused).

    With `pages`, `origin/pages/*` is served from the built pages.
    """
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    refused: list[str] = []
    context.route("**/*", lambda route: _loopback_only(route, refused))
    if pages is not None:
        context.route(f"{origin}/pages/**", lambda route: _serve(route, pages))
    page = context.new_page()
    page.goto(url)
    return page, refused


def wait_idle(page: Page, host: Devhost, thread_id: str, *, timeout: float = 60) -> dict[str, Any]:
    """The thread's status once its run is over, waiting through Playwright.

    The page's requests pass through this process's route handlers, which run only while a
    Playwright call is in progress: a plain sleep here would hold them up.
    """
    deadline = time.monotonic() + timeout
    while (status := host.status(thread_id))["active_run_id"] is not None:
        assert time.monotonic() < deadline, f"thread {thread_id} still has a run after {timeout} s"
        page.wait_for_timeout(50)
    return status


def _loopback_only(route: Route, refused: list[str]) -> None:
    if route.request.url.startswith(LOOPBACK):
        route.fallback()
    else:
        refused.append(route.request.url)
        route.abort()


def _serve(route: Route, pages: Path) -> None:
    relative = route.request.url.split("/pages/", 1)[1].split("?", 1)[0]
    path = (pages / relative).resolve()
    if not path.is_relative_to(pages) or not path.is_file():
        route.fulfill(status=404)
        return
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    route.fulfill(path=path, content_type=types.get(path.suffix, "application/octet-stream"))
