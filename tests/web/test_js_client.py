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
    start = next(r for r in sent if r.url.endswith("/agent/run"))
    assert start.all_headers()["authorization"] == "Bearer user-token"
    # The stream token replaces the caller's token on stream requests: in a header where it can go.
    assert stream_requests, "no stream request was seen"
    for request in stream_requests:
        if transport == "fetch":
            assert request.all_headers()["authorization"] == "Bearer stream-token"
            assert "access_token" not in request.url
        else:
            assert "access_token=stream-token" in request.url and "authorization" not in request.all_headers()


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


SECURED_RUN = """async ([transport, key]) => {
  const { AgentStreamClient } = await import("./agentstream.js");
  const client = new AgentStreamClient({ baseUrl: "../", headers: { "x-functions-key": key } });
  const run = await client.startRun({ message: "Hello with a key." });
  const ids = [];
  await new Promise((resolve, reject) => client.streamRun(run, {
    transport, onEvent: (event, id) => ids.push(id), onEnd: resolve, onError: reject,
  }));
  const target = { thread_id: run.thread_id, run_id: run.run_id };
  const unauthorized = await new Promise((resolve) => client.streamRun(target, {
    transport, streamToken: "forged", onEnd: () => resolve("ended"), onError: (e) => resolve([e.status, e.code]),
  }));
  return { ids, hasToken: Boolean(run.stream_token), unauthorized };
}"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    env = {
        "API_AUTH": "function_key",
        "STREAM_TOKEN_SECRET": "web-stream-token-secret-0123456789abcdef",
        "DEVHOST_FUNCTION_KEY": "web-function-key-0123456789",
    }
    host = Devhost(tmp_path_factory.mktemp("secured-web") / "data", env).start()
    yield host
    host.stop()


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_with_keys_and_stream_tokens_both_transports_stream_and_a_forged_token_is_refused(
    browser: Browser, secured: Devhost, transport: str
) -> None:
    chat = ChatPage.open(browser, secured.url)
    try:
        result = chat.page.evaluate(SECURED_RUN, [transport, "web-function-key-0123456789"])
    finally:
        chat.close()
    assert result["hasToken"] and result["ids"] == list(range(1, len(result["ids"]) + 1)) and len(result["ids"]) > 5
    assert result["unauthorized"] == [401, "invalid_token"]


RENDER = """async (text) => {
  const { renderMarkdown } = await import("./markdown.js");
  const box = document.createElement("div");
  box.append(renderMarkdown(text));
  return box.innerHTML;
}"""


MARKDOWN_CASES = [
    (
        "# Title\n\nSome *em* and **strong**.",
        "<h1>Title</h1><p>Some <em>em</em> and <strong>strong</strong>.</p>",
    ),
    (
        "- one\n- two\n\n3. three\n4. four",
        '<ul><li>one</li><li>two</li></ul><ol start="3"><li>three</li><li>four</li></ol>',
    ),
    (
        "```html\n<b>x</b>\n```\nafter",
        '<pre><code data-language="html">&lt;b&gt;x&lt;/b&gt;</code></pre><p>after</p>',
    ),
    ("> quoted\n> more", "<blockquote><p>quoted<br>more</p></blockquote>"),
    ("line one\nline two", "<p>line one<br>line two</p>"),
    ("snake_case_name and ~~gone~~", "<p>snake_case_name and <del>gone</del></p>"),
    ("[x](javascript:alert(1)) <i>raw</i>", "<p>[x](javascript:alert(1)) &lt;i&gt;raw&lt;/i&gt;</p>"),
    (
        "[**site**](https://example.com/a)",
        '<p><a href="https://example.com/a" rel="noopener noreferrer nofollow" target="_blank">'
        "<strong>site</strong></a></p>",
    ),
    # Still streaming: an open fence is code so far, an open ** is text.
    ("```\npartial", "<pre><code>partial</code></pre>"),
    ("half **bold", "<p>half **bold</p>"),
]


def test_the_markdown_renderer_builds_safe_nodes(page: Page) -> None:
    for markdown, html in MARKDOWN_CASES:
        assert page.evaluate(RENDER, markdown) == html, markdown
