"""A React page with the AI SDK's useChat (`resume: true`) in Chromium, against devhost's chat route."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Browser

from tests.harness import Devhost
from tests.web.frontends.conftest import open_page, wait_idle

TIMEOUT_MS = 60_000


def test_a_reload_mid_answer_resumes_and_ends_with_the_full_answer_once(
    browser: Browser, frontend_host: Devhost, built_pages: Path
) -> None:
    chat = f"page-{uuid.uuid4().hex[:8]}"
    url = f"{frontend_host.url}/pages/ai-sdk.html?chat={chat}&api=/api/agents/assistant/chat"
    page, refused = open_page(browser, url, pages=built_pages, origin=frontend_host.url)
    try:
        page.wait_for_selector("body[data-status=ready]", timeout=TIMEOUT_MS)
        page.fill("#prompt", " ".join(["resume"] * 40))
        page.click("#send")
        page.wait_for_function(
            "() => (document.querySelector('.msg.assistant .text')?.textContent ?? '').length > 40",
            timeout=TIMEOUT_MS,
        )
        resumes: list[int] = []
        page.on("response", lambda r: resumes.append(r.status) if r.url.endswith(f"/{chat}/stream") else None)
        page.reload()
        assert frontend_host.status(chat)["active_run_id"] is not None, "the reload should come mid-answer"
        answer = wait_idle(page, frontend_host, chat)["messages"][-1]["content"]
        page.wait_for_function(
            "text => [...document.querySelectorAll('.msg.assistant .text')].some(e => e.textContent === text)",
            arg=answer,
            timeout=TIMEOUT_MS,
        )
        page.wait_for_selector("body[data-status=ready]", timeout=TIMEOUT_MS)
        assert page.locator(".msg.user").count() == 1
        assert page.locator(".msg.assistant").all_inner_texts() == [answer]
        assert page.locator("#error").count() == 0
        assert resumes == [200], "the reloaded page should have resumed the run's stream"
        assert refused == []
    finally:
        page.context.close()
