"""Driving the chat page: open it, send a message, read what it shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page, Request, TimeoutError as PlaywrightTimeoutError

RUN_TIMEOUT_MS = 60_000


@dataclass
class ChatPage:
    context: BrowserContext
    page: Page
    stream_requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, url: str, *, transport: str = "eventsource", **context_options) -> ChatPage:
        # Playwright's waits evaluate code in the page, which the page's own CSP forbids.
        context_options.setdefault("viewport", {"width": 1100, "height": 800})
        context = browser.new_context(bypass_csp=True, **context_options)
        page = context.new_page()
        chat = cls(context, page)
        page.on("request", lambda r: chat.stream_requests.append(r) if "/agent/stream/" in r.url else None)
        page.on("pageerror", lambda e: chat.errors.append(str(e)))
        page.goto(f"{url}/api/ui/?transport={transport}")
        page.wait_for_selector("body[data-run-state=idle]")
        return chat

    def close(self) -> None:
        self.context.close()

    def send(self, message: str) -> None:
        """Send a message and return once the page shows the new run.

        A short run can finish before the page ever renders "running", so this waits for the
        run's own user message: from then on the run state shown is the new run's.
        """
        sent_before = self.page.locator(".msg.user").count()
        self.page.fill("#prompt", message)
        self.page.click("#send")
        try:
            self.page.wait_for_function(
                "n => document.querySelectorAll('.msg.user').length > n", arg=sent_before, timeout=RUN_TIMEOUT_MS
            )
        except PlaywrightTimeoutError:
            # Say what the page shows instead: an error card, or the status line of a run that never started.
            cards = self.page.locator(".error-card").all_inner_texts()
            raise AssertionError(
                f"the sent message never showed; status {self.page.inner_text('#run-info')!r}, error cards {cards}, "
                f"stream requests {[r.url for r in self.stream_requests]}"
            ) from None

    def wait_for_state(self, state: str) -> None:
        self.page.wait_for_selector(f"body[data-run-state={state}]", timeout=RUN_TIMEOUT_MS)

    def wait_for_answer_text(self, characters: int) -> None:
        self.page.wait_for_function(
            "n => [...document.querySelectorAll('.msg.assistant .content')].some(e => e.textContent.length >= n)",
            arg=characters,
            timeout=RUN_TIMEOUT_MS,
        )

    def thread_id(self) -> str:
        return self.page.inner_text("#thread-id")

    def assistant_texts(self) -> list[str]:
        return [t.strip() for t in self.page.locator(".msg.assistant:not(.discarded) .content").all_inner_texts()]

    def saved_cursor(self) -> int | None:
        return self.page.evaluate("() => JSON.parse(sessionStorage.getItem('agentstream.chat') || '{}').cursor ?? null")
