"""web/agentstream.js used as a library from a page: both transports, tokens, thread streams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.harness import Devhost
from tests.web.page import ChatPage

STREAM_A_RUN = """async ([transport, token, streamToken]) => {
  const { AgentStreamClient } = await import("./agentstream.js");
  const client = new AgentStreamClient({ baseUrl: "../", token });
  const run = await client.startRun({ message: "Hello from another web app." });
  const events = [];
  const states = [];
  await new Promise((resolve, reject) => client.streamRun(run, {
    transport, streamToken,
    onEvent: (event, id) => events.push([id, event.type]),
    onStatus: (state) => states.push(state),
    onEnd: resolve,
    onError: reject,
  }));
  return { run, events, states };
}"""

STREAM_A_THREAD = """async ([threadId, after, transport]) => {
  const { AgentStreamClient } = await import("./agentstream.js");
  const client = new AgentStreamClient({ baseUrl: "../" });
  const ids = [];
  await new Promise((resolve, reject) => client.streamThread(threadId, {
    after, transport, onEvent: (event, id) => ids.push(id), onEnd: resolve, onError: reject,
  }));
  return ids;
}"""

STREAM_ERROR = """async ([threadId, transport]) => {
  const { AgentStreamClient } = await import("./agentstream.js");
  const client = new AgentStreamClient({ baseUrl: "../" });
  return await new Promise((resolve) => client.streamThread(threadId, {
    transport, onEnd: () => resolve("ended"), onError: (e) => resolve([e.name, e.status, e.code]),
  }));
}"""


@pytest.fixture
def page(browser: Browser, devhost: Devhost) -> Iterator[Page]:
    chat = ChatPage.open(browser, devhost.url)
    yield chat.page
    assert chat.errors == []
    chat.close()


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_a_web_app_streams_a_run_with_either_transport(page: Page, devhost: Devhost, transport: str) -> None:
    sent = []
    page.on("request", lambda r: sent.append(r) if "/agent/" in r.url else None)
    result = page.evaluate(STREAM_A_RUN, [transport, "user-token", "stream-token"])

    expected = devhost.stream(result["run"]["stream_url"])
    assert result["events"] == [[e.id, e.type] for e in expected]
    assert result["states"][:2] == ["connecting", "open"] and result["states"][-1] == "closed"
    stream_requests = [r for r in sent if "/agent/stream/" in r.url]
    assert stream_requests and all("access_token=stream-token" in r.url for r in stream_requests)
    start = next(r for r in sent if r.url.endswith("/agent/run"))
    assert start.all_headers()["authorization"] == "Bearer user-token"
    authorization = stream_requests[0].all_headers().get("authorization")
    assert authorization == ("Bearer user-token" if transport == "fetch" else None)


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_a_thread_stream_ends_when_the_thread_is_idle(page: Page, devhost: Devhost, transport: str) -> None:
    started = devhost.start_run("Hello.")
    last = devhost.wait_idle(started["thread_id"])["last_event_id"]
    assert page.evaluate(STREAM_A_THREAD, [started["thread_id"], 3, transport]) == list(range(4, last + 1))
    assert page.evaluate(STREAM_A_THREAD, [started["thread_id"], last, transport]) == []


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_an_unknown_thread_is_an_error_with_the_server_code(page: Page, transport: str) -> None:
    assert page.evaluate(STREAM_ERROR, ["no-such-thread", transport]) == [
        "AgentStreamError",
        404,
        "thread_not_found",
    ]
