"""The chat page in Debian's Chromium: a full run, drops, reloads, cancel, safe markdown, a screenshot."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser

from tests.checks import assistant_texts
from tests.client.servers import CuttingProxy, serving
from tests.harness import ROOT, Devhost
from tests.web.page import RUN_TIMEOUT_MS, ChatPage

ARTIFACTS = ROOT / "tests" / "artifacts"
LONG_ANSWER = "Please tell me a long story about streams."


def committed_answer(host: Devhost, thread_id: str) -> list[str]:
    return [text.strip() for text in assistant_texts(host.status(thread_id)["messages"]).values()]


def test_the_page_renders_a_full_demo_run_and_keeps_a_screenshot(browser: Browser, devhost: Devhost, chat) -> None:
    page = ChatPage.open(browser, devhost.url)
    chat.append(page)
    page.send("What is the weather in Paris, and what time is it?")
    page.wait_for_state("finished")

    thread_id = page.thread_id()
    status = devhost.status(thread_id)
    assert page.assistant_texts() == committed_answer(devhost, thread_id)
    assert page.page.locator(".msg.user .content").all_inner_texts() == [
        "What is the weather in Paris, and what time is it?"
    ]
    tools = page.page.locator(".tool")
    assert tools.locator(".tool-name").all_inner_texts() == ["get_weather", "get_time"]
    results = {m["toolCallId"]: m["content"] for m in status["messages"] if m["role"] == "tool"}
    for index in range(tools.count()):
        card = tools.nth(index)
        assert card.get_attribute("data-status") == "done"
        assert card.locator(".tool-result").inner_text() == results[card.get_attribute("data-id")]
    [usage] = status["runs"][0]["usage"]
    info = page.page.inner_text("#run-info")
    assert f"finished · {usage['inputTokens']} in / {usage['outputTokens']} out tokens" in info
    assert f"last event {status['last_event_id']}" in info
    assert page.page.get_attribute("#connection", "data-state") == "closed"

    page.send("calculate 2*(3+4)")
    page.wait_for_state("finished")
    assert page.page.locator(".tool .tool-result").last.inner_text() == "2*(3+4) = 14"
    assert page.assistant_texts() == committed_answer(devhost, thread_id)
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=ARTIFACTS / "chat-page.png", full_page=True)
    assert (ARTIFACTS / "chat-page.png").stat().st_size > 10_000


def test_the_browser_answers_its_client_tool_and_reasoning_stays_collapsed(
    browser: Browser, devhost: Devhost, chat
) -> None:
    page = ChatPage.open(browser, devhost.url, timezone_id="Europe/Paris", locale="fr-FR")
    chat.append(page)
    page.send("Think first, then use browser_info.")
    page.wait_for_state("finished")

    thread_id = page.thread_id()
    events = devhost.stream(f"/api/agent/stream/{thread_id}")
    card = page.page.locator(".tool")
    assert card.count() == 1 and card.locator(".tool-name").inner_text() == "browser_info"
    assert card.locator(".tool-where").inner_text() == "answered by this browser"
    answer = json.loads(card.locator(".tool-result").inner_text())
    assert answer["timeZone"] == "Europe/Paris" and answer["language"] == "fr-FR"
    [result] = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert result["toolCallId"] == card.get_attribute("data-id") and json.loads(result["content"]) == answer
    assert page.assistant_texts() == committed_answer(devhost, thread_id)
    assert page.assistant_texts()[-1] == f"Here is what I found: {result['content']}."

    reasoning = page.page.locator("details.reasoning")
    streamed = "".join(e.body["delta"] for e in events if e.type == "REASONING_MESSAGE_CONTENT")
    assert reasoning.count() >= 1 and not reasoning.first.evaluate("e => e.open")
    assert reasoning.first.locator("summary").inner_text() == "Reasoning"
    assert "".join(reasoning.locator(".content").all_text_contents()) == streamed
    assert streamed.startswith("The user wants me to think first.")


def test_a_browser_tool_answer_lost_on_the_way_is_sent_again_and_a_reload_answers_a_pending_call(
    browser: Browser, devhost: Devhost, chat
) -> None:
    page = ChatPage.open(browser, devhost.url)
    chat.append(page)
    posts: list[str] = []

    def fail_twice(route) -> None:
        posts.append(route.request.url)
        if len(posts) <= 2:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.page.route("**/tool-results", fail_twice)
    page.send("Use browser_info once.")
    page.wait_for_state("finished")
    assert len(posts) == 3 and page.page.locator(".tool[data-status=done]").count() == 1

    page.page.route("**/tool-results", lambda route: route.abort("connectionreset"))
    page.send("And browser_info again.")
    page.page.wait_for_selector(".tool[data-status=running][data-done=true]", timeout=RUN_TIMEOUT_MS)
    page.page.unroute("**/tool-results")
    page.page.reload()
    page.wait_for_state("finished")
    thread_id = page.thread_id()
    assert page.page.locator(".tool[data-status=done]").count() == 2
    assert page.assistant_texts() == committed_answer(devhost, thread_id)
    assert [m["role"] for m in devhost.status(thread_id)["messages"]].count("tool") == 2


def test_model_markdown_renders_and_model_html_stays_text(browser: Browser, devhost: Devhost, chat) -> None:
    page = ChatPage.open(browser, devhost.url)
    chat.append(page)
    page.send(
        "Echo **bold**, `code`, [docs](https://example.com/docs) and [bad](javascript:alert(1)) "
        "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>"
    )
    page.wait_for_state("finished")
    answer = page.page.locator(".msg.assistant .content")
    assert answer.locator("strong").inner_text() == "bold"
    assert answer.locator("code").inner_text() == "code"
    link = answer.locator("a")
    assert link.count() == 1 and link.get_attribute("href") == "https://example.com/docs"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert page.page.locator("#transcript img, #transcript script").count() == 0
    assert "<img src=x onerror=" in answer.inner_text() and "[bad](javascript:alert(1))" in answer.inner_text()
    assert page.page.title() == "agentstream chat"


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_streams_cut_mid_frame_resume_with_the_exact_text(
    browser: Browser, slow_devhost: Devhost, chat, transport: str
) -> None:
    cutting = CuttingProxy(slow_devhost.url, every=5)
    with serving(cutting.handler()) as url:
        page = ChatPage.open(browser, url, transport=transport)
        chat.append(page)
        page.send(LONG_ANSWER)
        page.wait_for_state("finished")
        answer = committed_answer(slow_devhost, page.thread_id())
        assert page.assistant_texts() == answer
        assert len(re.findall(r"long story about streams", page.page.inner_text("#transcript"))) == 2
        assert cutting.cuts >= 3
        resumed = [r for r in page.stream_requests if _cursor(r) is not None]
        assert len(resumed) >= 3
        cursors = [_cursor(r) for r in resumed]
        assert cursors == sorted(cursors)
        if transport == "eventsource":
            # The browser's own reconnects, which send the last id they saw.
            assert any("last-event-id" in r.all_headers() for r in resumed)


def test_a_reload_mid_run_resumes_after_the_saved_cursor_without_repeating(
    browser: Browser, slow_devhost: Devhost, chat
) -> None:
    page = ChatPage.open(browser, slow_devhost.url)
    chat.append(page)
    page.send(LONG_ANSWER)
    page.wait_for_answer_text(30)
    page.stream_requests.clear()
    page.page.reload()
    page.wait_for_state("finished")

    thread_id = page.thread_id()
    last_event_id = slow_devhost.status(thread_id)["last_event_id"]
    first_after_reload = _cursor(page.stream_requests[0])
    assert first_after_reload is not None and 5 < first_after_reload < last_event_id
    assert page.assistant_texts() == committed_answer(slow_devhost, thread_id)
    assert page.page.locator(".msg.user").count() == 1 and page.page.locator(".msg.assistant").count() == 1
    assert page.saved_cursor() == last_event_id


def test_cancel_stops_the_run_and_marks_its_cut_off_answer(browser: Browser, slow_devhost: Devhost, chat) -> None:
    page = ChatPage.open(browser, slow_devhost.url)
    chat.append(page)
    page.send(LONG_ANSWER)
    page.wait_for_answer_text(10)
    page.page.click("#cancel")
    page.wait_for_state("cancelled")

    status = slow_devhost.status(page.thread_id())
    assert status["runs"][0]["status"] == "cancelled"
    assert assistant_texts(status["messages"]) == {}
    assert page.page.locator(".msg.assistant.discarded").count() == 1
    assert "cancelled" in page.page.inner_text("#run-info")
    assert page.page.is_disabled("#cancel") and page.page.is_enabled("#send")


def _cursor(request) -> int | None:
    """The cursor a stream request resumed from: its Last-Event-ID header, or ?after=."""
    header = request.all_headers().get("last-event-id")
    if header:
        return int(header)
    after = parse_qs(urlsplit(request.url).query).get("after")
    return int(after[0]) if after else None
