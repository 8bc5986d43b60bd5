"""The Python client against a real devhost: resume through a cutting proxy, gaps, typed errors."""

from __future__ import annotations

import random
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import requests

import agentstream_client as client_module
from agentstream_client import (
    AgentStreamClient,
    Backoff,
    BadRequestError,
    ConflictError,
    CursorExpiredError,
    DisconnectedError,
    NotFoundError,
    ProtocolError,
    StreamGapError,
)
from tests.checks import assistant_texts
from tests.client.expectations import (
    CUT_RUN_MESSAGE,
    FAST,
    TOOLS_MESSAGE,
    check_cut_run,
    check_tool_answers,
    colour_and_booking,
    proxy_mark,
)
from tests.client.servers import doctored_server, send_events, send_json, serving
from tests.harness import Devhost, free_port

STARTED = {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}


def delta(text: str) -> dict[str, object]:
    return {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": text}


def test_a_run_cut_every_four_events_yields_the_uninterrupted_event_list(devhost: Devhost, proxy) -> None:
    cutting, url = proxy
    mark = proxy_mark(cutting)
    run = AgentStreamClient(url, backoff=FAST).run(CUT_RUN_MESSAGE)
    events = list(run)
    check_cut_run(devhost, cutting, mark, run, events, run.result())
    assert run.first_token.is_set()


def test_text_and_reasoning_views_share_one_read_of_the_stream(devhost: Devhost, proxy) -> None:
    _, url = proxy
    run = AgentStreamClient(url, backoff=FAST).run("Tell me a story.")
    text = "".join(run.text())
    assert list(run.reasoning()) == []
    assert [e.id for e in run] == [e.id for e in run.events]
    assert text.strip() == run.result().text
    assert run.stream.connections > 1


def test_client_tools_are_answered_by_their_callbacks_while_the_run_streams(devhost: Devhost, proxy) -> None:
    _, url = proxy
    asked: list[dict] = []

    def pick_colour(arguments: dict) -> dict:
        asked.append(arguments)
        return {"colour": "teal", "palette": arguments["palette"]}

    run = AgentStreamClient(url, backoff=FAST).run(TOOLS_MESSAGE, tools=colour_and_booking(pick_colour))
    check_tool_answers(run, run.result(), asked)


def test_reasoning_streams_through_its_own_view(devhost: Devhost) -> None:
    run = AgentStreamClient(devhost.url).run("Think before you answer, please.")
    reasoning = "".join(run.reasoning())
    expected = "".join(e.body["delta"] for e in run.events if e.type == "REASONING_MESSAGE_CONTENT")
    assert reasoning == expected and reasoning.startswith("The user wants me to think first.")
    assert run.first_token.is_set() and run.result().ok
    assert "think first" not in run.result().text


def test_a_thread_resumed_after_an_event_id_yields_exactly_the_rest(devhost: Devhost, proxy) -> None:
    _, url = proxy
    client = AgentStreamClient(url, backoff=FAST)
    first = client.run("calculate 2*(3+4)")
    first.result()
    second = client.run("And now the weather in Oslo?", thread_id=first.thread_id)
    second.result()
    everything = devhost.stream(f"/api/agent/stream/{first.thread_id}")

    resumed = client.resume(first.thread_id, after=7)
    assert [(e.id, e.body) for e in resumed] == [(e.id, e.body) for e in everything[7:]]
    assert resumed.run_id == second.run_id
    assert resumed.result().run_id == second.run_id and resumed.result().ok


def test_a_caught_up_resume_on_an_idle_thread_ends_at_once(devhost: Devhost) -> None:
    client = AgentStreamClient(devhost.url)
    run = client.run("Hello there.")
    last = run.result() and run.events[-1].id
    assert list(client.stream(run.thread_id, after=last)) == []


def test_server_errors_are_typed_and_carry_the_json_error(devhost: Devhost) -> None:
    client = AgentStreamClient(devhost.url)
    with pytest.raises(NotFoundError) as not_found:
        client.run("Hi", thread_id="no-such-thread")
    assert not_found.value.status_code == 404 and not_found.value.code == "thread_not_found"
    assert "no-such-thread" in not_found.value.message
    with pytest.raises(NotFoundError) as no_stream:
        list(client.stream("no-such-thread"))
    assert no_stream.value.code == "thread_not_found"
    run = client.run("Hi")
    run.result()
    with pytest.raises(BadRequestError) as beyond:
        list(client.stream(run.thread_id, after=10_000))
    assert beyond.value.code == "cursor_out_of_range"
    assert repr(beyond.value).startswith("BadRequestError(status_code=400, code='cursor_out_of_range'")


# -- doctored streams -------------------------------------------------------------------------


def _gap(handler: BaseHTTPRequestHandler) -> None:
    send_events(handler, [(1, STARTED), (2, delta("a")), (4, delta("c"))])


def _duplicates(handler: BaseHTTPRequestHandler) -> None:
    after = int(handler.headers.get("Last-Event-ID") or 0)
    events = [(1, STARTED), (2, delta("a")), (2, delta("a")), (3, delta("b")), (4, {"type": "RUN_FINISHED"})]
    # Every connection replays from the start: only ids after the cursor may come through.
    send_events(handler, events if after < 3 else [(2, delta("a")), *events[3:]])


def _expired(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, 410, {"error": {"code": "cursor_expired", "message": "Events before 90 are gone."}})


def _busy_then_conflict(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, 409, {"error": {"code": "run_active", "message": "Thread 't' already has an active run."}})


def _not_sse(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, 200, {"hello": "world"})


def _starts_mid_run(handler: BaseHTTPRequestHandler) -> None:
    send_events(handler, [(5, delta("x"))])


_unavailable_calls: list[int] = []


def _unavailable_once(handler: BaseHTTPRequestHandler) -> None:
    _unavailable_calls.append(1)
    if len(_unavailable_calls) == 1:
        send_json(handler, 503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "0"})
    else:
        send_events(handler, [(1, STARTED), (2, {"type": "RUN_FINISHED"})])


DOCTORED = {
    "/gap": _gap,
    "/duplicates": _duplicates,
    "/expired": _expired,
    "/api/agent/run": _busy_then_conflict,
    "/not-sse": _not_sse,
    "/mid-run": _starts_mid_run,
    "/unavailable": _unavailable_once,
}


@pytest.fixture(scope="module")
def doctored() -> Iterator[str]:
    with serving(doctored_server(DOCTORED)) as url:
        yield url


def stream(url: str, path: str, **kwargs) -> client_module.EventStream:
    return client_module.EventStream(requests.Session(), url + path, backoff=FAST, **kwargs)


def test_a_missing_event_id_fails_loudly(doctored: str) -> None:
    seen = []
    with pytest.raises(StreamGapError) as gap:
        for event in stream(doctored, "/gap", after=0):
            seen.append(event.id)
    assert seen == [1, 2]
    assert (gap.value.expected, gap.value.received) == (3, 4)
    assert "events 3-3 are missing" in str(gap.value)


def test_a_stream_failure_reaches_every_view_of_a_run_not_only_the_first(doctored: str) -> None:
    run = client_module.Run(
        AgentStreamClient(doctored, backoff=FAST), stream(doctored, "/gap", after=0), thread_id="t", run_id=None
    )
    with pytest.raises(StreamGapError):
        list(run.text())
    # A later view must not take the broken stream for a finished run.
    with pytest.raises(StreamGapError):
        run.result()


def test_a_repeated_event_id_is_never_yielded_twice(doctored: str) -> None:
    events = list(stream(doctored, "/duplicates", after=0, until_terminal=True))
    assert [e.id for e in events] == [1, 2, 3, 4]
    assert [e.body.get("delta") for e in events[1:3]] == ["a", "b"]


def test_410_raises_cursor_expired(doctored: str) -> None:
    with pytest.raises(CursorExpiredError) as expired:
        list(stream(doctored, "/expired", after=5))
    assert expired.value.status_code == 410 and expired.value.code == "cursor_expired"
    assert expired.value.body == {"error": {"code": "cursor_expired", "message": "Events before 90 are gone."}}


def test_409_raises_a_conflict_with_the_server_message(doctored: str) -> None:
    with pytest.raises(ConflictError) as conflict:
        AgentStreamClient(doctored).run("Hi", thread_id="t")
    assert conflict.value.code == "run_active" and conflict.value.message == "Thread 't' already has an active run."


def test_a_503_is_retried_after_its_retry_after(doctored: str) -> None:
    events = list(stream(doctored, "/unavailable", until_terminal=True))
    assert [e.type for e in events] == ["RUN_STARTED", "RUN_FINISHED"] and len(_unavailable_calls) == 2


def test_an_answer_that_is_not_a_stream_is_a_protocol_error(doctored: str) -> None:
    with pytest.raises(ProtocolError, match="text/event-stream"):
        list(stream(doctored, "/not-sse"))
    with pytest.raises(ProtocolError, match="must begin with RUN_STARTED"):
        list(stream(doctored, "/mid-run"))


def test_an_unreachable_server_gives_up_after_the_backoff_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DisconnectedError, match="after 5 failed reconnect attempts"):
        list(stream(url, "/api/agent/stream/t", after=0))


def test_backoff_delays_grow_exponentially_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, rng=random.Random(7))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    samples = [[backoff.delay(attempt) for _ in range(200)] for attempt in range(len(ceilings))]
    for ceiling, delays in zip(ceilings, samples, strict=True):
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9 and min(delays) < ceiling * 0.1  # spread over the whole range


def test_the_public_names_are_exported() -> None:
    public = {name for name in vars(client_module) if not name.startswith("_")}
    modules = {"backoff", "client", "errors", "events", "interrupts", "run", "sse", "stream", "tools", "annotations"}
    modules |= {"async_client", "async_run", "async_stream"}
    assert set(client_module.__all__) == public - modules


def test_text_puts_a_newline_between_two_messages(devhost: Devhost) -> None:
    run = AgentStreamClient(devhost.url, backoff=FAST).run("What is the weather in Paris?")
    text = "".join(run.text())
    first, second = assistant_texts(devhost.status(run.thread_id)["messages"]).values()
    assert text == f"{first}\n{second}"
