"""A run over real HTTP against a devhost subprocess: ordering, resume, independence, status codes."""

from __future__ import annotations

import json
import threading
import time

import requests

from agentstream_client.sse import SSEDecoder
from tests.checks import assert_contiguous, assert_well_ordered_run, assistant_texts, text_by_message
from tests.harness import Devhost, StreamEvent


def test_a_tool_run_is_well_ordered_and_its_text_equals_the_final_messages(devhost: Devhost) -> None:
    started = devhost.start_run("What is the weather in Paris, and what time is it?")
    events = devhost.stream(started["stream_url"])

    assert_contiguous(events)
    assert_well_ordered_run(events)
    types = [e.type for e in events]
    assert types[-1] == "RUN_FINISHED"
    assert types.count("TOOL_CALL_START") == 2 and types.count("TOOL_CALL_RESULT") == 2
    status = devhost.status(started["thread_id"])
    assert text_by_message(events) == assistant_texts(status["messages"])
    assert status["last_event_id"] == events[-1].id
    [run] = status["runs"]
    assert run["status"] == "succeeded" and run["usage"][0]["outputTokens"] > 0
    # One usage shape: the thread status holds what RUN_FINISHED said, AG-UI's TokenUsage list.
    assert events[-1].body["usage"] == run["usage"]
    assert set(run["usage"][0]) == {"inputTokens", "outputTokens", "totalTokens"}
    roles = [m["role"] for m in status["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]


def test_reasoning_streams_before_the_answer_and_is_kept_in_the_messages(devhost: Devhost) -> None:
    started = devhost.start_run("Think it over: what is agentstream?")
    events = devhost.stream(started["stream_url"])
    assert_contiguous(events)
    assert_well_ordered_run(events)
    types = [e.type for e in events]
    first_text = types.index("TEXT_MESSAGE_START", 3)
    assert types[4:6] == ["REASONING_START", "REASONING_MESSAGE_START"]
    assert types[first_text - 2 : first_text] == ["REASONING_MESSAGE_END", "REASONING_END"]
    assert set(types[6 : first_text - 2]) == {"REASONING_MESSAGE_CONTENT"}
    reasoning = "".join(e.body["delta"] for e in events if e.type == "REASONING_MESSAGE_CONTENT")
    messages = devhost.status(started["thread_id"])["messages"]
    assert [m["role"] for m in messages] == ["user", "reasoning", "assistant"]
    assert messages[1] == {"id": events[4].body["messageId"], "role": "reasoning", "content": reasoning}
    assert reasoning.startswith("The user wants me to think first.")
    assert [e.type for e in events[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert events[-2].body["messages"] == messages


def test_resuming_after_every_event_yields_exactly_the_rest(devhost: Devhost) -> None:
    started = devhost.start_run("Tell me something.")
    thread = started["thread_id"]
    full = devhost.stream(f"/api/agent/stream/{thread}")
    assert_well_ordered_run(full)
    for index in range(1, len(full)):
        by_header = devhost.stream(f"/api/agent/stream/{thread}", headers={"Last-Event-ID": str(index)})
        by_query = devhost.stream(f"/api/agent/stream/{thread}?after={index}")
        assert by_header == full[index:], index
        assert by_query == full[index:], index
    caught_up = requests.get(f"{devhost.url}/api/agent/stream/{thread}", headers={"Last-Event-ID": str(full[-1].id)})
    assert caught_up.status_code == 204


def test_a_reader_that_drops_mid_run_and_resumes_sees_every_event_once(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "100"})
    started = host.start_run("Keep talking while I drop the connection.")
    path = f"/api/agent/stream/{started['thread_id']}"
    pieces: list = []
    cursor = 0
    while not pieces or pieces[-1].type not in ("RUN_FINISHED", "RUN_ERROR"):
        for count, event in enumerate(host.iter_stream(path, headers={"Last-Event-ID": str(cursor)}), start=1):
            pieces.append(event)
            cursor = event.id
            if count == 3:
                break  # drop the connection mid-run
    assert host.status(started["thread_id"])["runs"][0]["first_event_id"] == 1
    assert pieces == host.stream(path)


def test_two_threads_run_at_once_independently(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "200"})
    first = host.start_run("First thread, weather in Oslo please.")
    second = host.start_run("Second thread, just chat.")
    results: dict[str, list] = {}

    def read(started: dict) -> None:
        results[started["thread_id"]] = host.stream(f"/api/agent/stream/{started['thread_id']}")

    readers = [threading.Thread(target=read, args=(s,)) for s in (first, second)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=30)
    for started in (first, second):
        events = results[started["thread_id"]]
        assert_contiguous(events)
        assert_well_ordered_run(events)
        assert {e.body.get("threadId") for e in events if e.type == "RUN_STARTED"} == {started["thread_id"]}
        assert text_by_message(events) == assistant_texts(host.status(started["thread_id"])["messages"])


def test_a_second_run_on_a_busy_thread_is_refused_with_409(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "20"})
    started = host.start_run("A slow answer, please.")
    response = requests.post(
        f"{host.url}/api/agent/run", json={"message": "again", "thread_id": started["thread_id"]}, timeout=10
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "run_active"
    assert [run["run_id"] for run in host.status(started["thread_id"])["runs"]] == [started["run_id"]]


def test_a_thread_continues_with_a_second_run_and_the_stream_spans_both(devhost: Devhost) -> None:
    first = devhost.start_run("Hello there.")
    devhost.wait_idle(first["thread_id"])
    second = devhost.start_run("And a follow-up.", thread_id=first["thread_id"])
    assert second["thread_id"] == first["thread_id"]
    devhost.wait_idle(first["thread_id"])
    events = devhost.stream(f"/api/agent/stream/{first['thread_id']}")
    assert_contiguous(events)
    assert [e.type for e in events].count("RUN_STARTED") == 2
    only_second = devhost.stream(second["stream_url"])
    assert only_second[0].type == "RUN_STARTED" and only_second[0].body["runId"] == second["run_id"]
    assert only_second == [e for e in events if e.id >= only_second[0].id]
    user_messages = [m["content"] for m in devhost.status(first["thread_id"])["messages"] if m["role"] == "user"]
    assert user_messages == ["Hello there.", "And a follow-up."]


def test_unknown_thread_is_404_at_once(devhost: Devhost) -> None:
    begin = time.monotonic()
    response = requests.get(f"{devhost.url}/api/agent/stream/{'0' * 32}", timeout=5)
    assert response.status_code == 404
    assert time.monotonic() - begin < 1
    assert response.json()["error"]["code"] == "thread_not_found"
    assert requests.get(f"{devhost.url}/api/agent/threads/{'0' * 32}", timeout=5).status_code == 404


def test_start_and_watch_in_one_request(devhost: Devhost) -> None:
    with requests.post(
        f"{devhost.url}/api/agent/run",
        json={"message": "Stream it right here."},
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        thread_id = response.headers["x-thread-id"]
        body = response.text
    assert body.startswith("retry: ")
    assert "\r" not in body
    decoder = SSEDecoder()
    watched = [StreamEvent(int(e.id or 0), json.loads(e.data)) for e in decoder.decode(body)]
    assert decoder.retry == 1000
    assert watched == devhost.stream(f"/api/agent/stream/{thread_id}")
    assert watched[-1].type == "RUN_FINISHED"


def test_a_browser_style_accept_header_gets_the_json_answer(devhost: Devhost) -> None:
    response = requests.post(
        f"{devhost.url}/api/agent/run",
        json={"message": "From axios."},
        headers={"Accept": "application/json, text/plain, */*"},
        timeout=10,
    )
    assert response.status_code == 202 and response.headers["location"] == response.json()["stream_url"]


def test_plain_text_stream_is_the_assistant_text(devhost: Devhost) -> None:
    started = devhost.start_run("Plain words please.")
    with requests.get(
        f"{devhost.url}{started['stream_url']}", headers={"Accept": "text/plain"}, stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
    status = devhost.wait_idle(started["thread_id"])
    [answer] = assistant_texts(status["messages"]).values()
    assert text == answer + "\n"


def test_stream_headers_and_health(devhost: Devhost) -> None:
    started = devhost.start_run("Headers?")
    with requests.get(f"{devhost.url}{started['stream_url']}", stream=True, timeout=30) as response:
        assert response.headers["cache-control"] == "no-cache, no-transform"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-thread-id"] == started["thread_id"]
        assert "content-encoding" not in response.headers
        assert response.content.endswith(b"\n\n")
    health = requests.get(f"{devhost.url}/api/health", timeout=5)
    assert health.json() == {"status": "ok", "store": {"backend": devhost.env["EVENT_STORE"], "reachable": True}}


def test_heartbeats_and_planned_close_let_a_follower_resume(make_devhost) -> None:
    host: Devhost = make_devhost({"STREAM_HEARTBEAT_SECONDS": "0.2", "STREAM_MAX_SECONDS": "1"})
    started = host.start_run("Short one.")
    host.wait_idle(started["thread_id"])
    path = f"/api/agent/stream/{started['thread_id']}"
    last = host.stream(path)[-1].id
    begin = time.monotonic()
    with requests.get(f"{host.url}{path}?follow=1&after={last}", stream=True, timeout=10) as response:
        assert response.status_code == 200
        raw = response.text
    elapsed = time.monotonic() - begin
    assert 0.9 <= elapsed < 3, elapsed
    assert raw.startswith("retry: 1000\n\n")
    assert raw.count(": ping\n\n") >= 3
    # A follower sees the next run on the same connection.
    events: list = []

    def follow() -> None:
        events.extend(host.iter_stream(f"{path}?follow=1&after={last}", timeout=10))

    reader = threading.Thread(target=follow)
    reader.start()
    host.start_run("Next one.", thread_id=started["thread_id"])
    reader.join(timeout=10)
    assert events and events[0].id == last + 1 and events[0].type == "RUN_STARTED"
