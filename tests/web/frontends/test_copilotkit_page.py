"""A CopilotKit page (React, @copilotkit/react-core's CopilotChat) in Chromium, through CopilotKit's runtime
(Node, loopback) to the devhost's AG-UI endpoint, with `clients/copilotkit/agentstream-runner.mjs` as its runner.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page

from tests.harness import Devhost
from tests.web.frontends.conftest import open_page, wait_idle

TIMEOUT_MS = 60_000


def open_thread(browser: Browser, copilotkit_url: str) -> tuple[Page, str, list[str]]:
    thread = f"ck-{uuid.uuid4().hex[:8]}"
    page, refused = open_page(browser, "about:blank")
    # The chat joins its thread on load (the runtime's /connect); send once that has answered.
    with page.expect_response(lambda r: r.url.endswith("/agent/assistant/connect"), timeout=TIMEOUT_MS):
        page.goto(f"{copilotkit_url}/copilotkit.html?thread={thread}")
    return page, thread, refused


def send(page: Page, text: str) -> None:
    box = page.locator("textarea").first
    box.fill(text)
    box.press("Enter")


def wait_for_text(page: Page, text: str) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=TIMEOUT_MS)


def test_a_message_shows_the_server_tool_result_and_the_streamed_answer(
    browser: Browser, frontend_host: Devhost, copilotkit_url: str
) -> None:
    page, thread, refused = open_thread(browser, copilotkit_url)
    try:
        send(page, "What is the weather in Paris?")
        result = page.locator(".weather-result[data-status=complete]")
        result.wait_for(timeout=TIMEOUT_MS)
        assert result.inner_text() == "Paris: 17°C, windy"
        wait_for_text(page, "Here is what I found: Paris: 17°C, windy.")
        messages = wait_idle(page, frontend_host, thread)["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
        assert refused == []
    finally:
        page.context.close()


def test_a_reload_mid_run_re_attaches_and_ends_with_the_answer_once(
    browser: Browser, frontend_host: Devhost, copilotkit_url: str
) -> None:
    page, thread, refused = open_thread(browser, copilotkit_url)
    try:
        send(page, " ".join(["reload"] * 40))
        wait_for_text(page, 'You said: "reload reload')
        with page.expect_response(lambda r: r.url.endswith("/agent/assistant/connect"), timeout=TIMEOUT_MS):
            page.reload()
        assert frontend_host.status(thread)["active_run_id"] is not None, "the reload should come mid-run"
        answer = wait_idle(page, frontend_host, thread)["messages"][-1]["content"]
        wait_for_text(page, answer)
        body = page.inner_text("body")
        assert body.count("This answer comes from") == 1
        assert body.count(answer) == 1 and body.count("You said:") == 1
        assert refused == []
    finally:
        page.context.close()


def test_a_frontend_action_runs_in_the_browser_and_the_agent_continues_with_its_result(
    browser: Browser, frontend_host: Devhost, copilotkit_url: str
) -> None:
    page, thread, refused = open_thread(browser, copilotkit_url)
    try:
        send(page, "Please confirm_booking for Friday.")
        wait_for_text(page, "Here is what I found: Confirmed by the user.")
        assert page.evaluate("window.confirmations") == ["Please confirm_booking for Friday."]
        status = wait_idle(page, frontend_host, thread)
        assert len(status["runs"]) == 2  # the call, then the answer to its result
        tool = [m for m in status["messages"] if m["role"] == "tool"]
        assert [m["content"] for m in tool] == ["Confirmed by the user"]
        assert refused == []
    finally:
        page.context.close()


def test_the_stop_button_cancels_the_run(browser: Browser, frontend_host: Devhost, copilotkit_url: str) -> None:
    page, thread, refused = open_thread(browser, copilotkit_url)
    try:
        send(page, " ".join(["stop"] * 40))
        wait_for_text(page, 'You said: "stop stop')
        # While the agent runs, the send button is the stop button.
        page.click("[data-testid=copilot-send-button]")
        [run] = wait_idle(page, frontend_host, thread)["runs"]
        assert run["status"] == "cancelled"
        assert refused == []
    finally:
        page.context.close()
