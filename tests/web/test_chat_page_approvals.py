"""The chat page asks before a tool that needs approval runs: Approve and Reject on the tool card, kept
across a reload, in Debian's Chromium."""

from __future__ import annotations

from playwright.sync_api import Browser

from agentstream.agent.approvals import DECLINED
from tests.harness import Devhost
from tests.web.page import RUN_TIMEOUT_MS, ChatPage


def tool_results(host: Devhost, thread_id: str) -> list[str]:
    return [m["content"] for m in host.status(thread_id)["messages"] if m["role"] == "tool"]


def test_approve_on_the_tool_card_after_a_reload_runs_the_tool(browser: Browser, devhost: Devhost, chat) -> None:
    page = ChatPage.open(browser, devhost.url)
    chat.append(page)
    page.send("Please book_table for us tonight.")
    page.wait_for_state("interrupted")
    card = page.page.locator(".tool[data-status=awaiting-approval]")
    assert card.locator(".tool-name").inner_text() == "book_table"
    assert page.page.is_disabled("#send")
    thread_id, call_id = page.thread_id(), card.get_attribute("data-id")
    assert [i["toolCallId"] for i in devhost.status(thread_id)["interrupts"]] == [call_id]

    # The question survives a reload, and is answered from the reloaded page.
    page.page.reload()
    page.page.wait_for_selector("body[data-run-state=interrupted]", timeout=RUN_TIMEOUT_MS)
    page.page.click(".tool[data-status=awaiting-approval] button.approve")
    page.wait_for_state("finished")
    done = page.page.locator(f'.tool[data-id="{call_id}"]')
    assert done.get_attribute("data-status") == "done"
    [result] = tool_results(devhost, thread_id)
    assert result.startswith("Booked a table for 2 at Please book_table for us tonight.")
    assert done.locator(".tool-result").inner_text() == result
    assert page.page.is_enabled("#send")
    assert devhost.status(thread_id)["interrupts"] == []


def test_reject_on_the_tool_card_declines_the_call(browser: Browser, devhost: Devhost, chat) -> None:
    page = ChatPage.open(browser, devhost.url)
    chat.append(page)
    page.send("book_table at Chez Anna please")
    page.wait_for_state("interrupted")
    page.page.click(".tool[data-status=awaiting-approval] button.reject")
    page.wait_for_state("finished")
    assert tool_results(devhost, page.thread_id()) == [DECLINED]
    assert page.page.locator(".tool .tool-result").last.inner_text() == DECLINED
