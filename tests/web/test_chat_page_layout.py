"""The chat page on a phone-sized screen, and a failed run's error card."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.harness import ROOT, Devhost
from tests.web.page import ChatPage

ARTIFACTS = ROOT / "tests" / "artifacts"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser, devhost: Devhost) -> Iterator[ChatPage]:
    page = ChatPage.open(browser, devhost.url, viewport=PHONE)
    yield page
    assert page.errors == [], page.errors
    page.close()


def assert_fits_the_screen(page: ChatPage) -> None:
    assert page.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.page.locator("#new-chat").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]


def test_a_failed_run_shows_an_error_card_that_stays_on_a_390_px_screen(phone: ChatPage, devhost: Devhost) -> None:
    phone.send("Tell me about streams [fail:model]")
    phone.wait_for_state("error")
    card = phone.page.locator(".error-card")
    assert card.count() == 1 and card.is_visible()
    [run] = devhost.status(phone.thread_id())["runs"]
    assert card.locator(".error-code").inner_text() == run["error"]["code"] == "model_error"
    assert card.locator(".error-message").inner_text() == run["error"]["message"]
    assert_fits_the_screen(phone)  # with the thread id shown, what made the page 578 px wide
    ARTIFACTS.mkdir(exist_ok=True)
    phone.page.screenshot(path=str(ARTIFACTS / "chat-page-390px-error.png"), full_page=True)

    phone.send("Hello again.")
    phone.wait_for_state("finished")
    assert card.count() == 1 and card.is_visible()  # the next run replaces the status line, not the card
    assert phone.page.locator(".error-card + .msg.user").count() == 1
    assert_fits_the_screen(phone)

    phone.page.reload()
    phone.page.wait_for_selector("body[data-run-state=finished]")
    assert phone.page.locator(".error-card .error-code").inner_text() == "model_error"


def test_a_run_that_cannot_start_shows_an_error_card(phone: ChatPage) -> None:
    phone.page.route(
        "**/api/agent/run",
        lambda route: route.fulfill(
            status=503,
            json={"error": {"code": "start_failed", "message": "Try again shortly."}},
            headers={"Retry-After": "1"},
        ),
    )
    phone.page.fill("#prompt", "Hello")
    phone.page.click("#send")
    phone.wait_for_state("error")
    assert phone.page.locator(".error-card .error-code").inner_text() == "start_failed"
    assert phone.page.locator(".error-card .error-message").inner_text() == "Try again shortly."
    assert_fits_the_screen(phone)
