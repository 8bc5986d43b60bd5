"""Client-side tools: the run emits the call, waits for POST .../tool-results (or, in the `finish`
mode, ends with the call pending), and continues with the client's result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.checks import assert_contiguous, assert_well_ordered_run
from tests.harness import Devhost, StreamEvent

BOOKING = {
    "name": "confirm_booking",
    "description": "Ask the user to confirm a booking.",
    "parameters": {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
}
COLOUR = {
    "name": "pick_colour",
    "description": "Let the user pick a colour.",
    "parameters": {
        "type": "object",
        "properties": {"palette": {"type": "string", "enum": ["warm", "cold"]}, "count": {"type": "integer"}},
        "required": ["palette", "count"],
    },
}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    started = Devhost(tmp_path_factory.mktemp("client-tools") / "data", app="tests.e2e.finish_mode_app").start()
    yield started
    started.stop()


def start(host: Devhost, body: dict[str, Any], path: str = "/api/agent/run") -> dict[str, Any]:
    response = requests.post(f"{host.url}{path}", json=body, timeout=10)
    assert response.status_code == 202, response.text
    return dict(response.json())


def post_results(host: Devhost, started: dict[str, Any], *results: dict[str, Any]) -> requests.Response:
    url = f"{host.url}/api/agent/threads/{started['thread_id']}/runs/{started['run_id']}/tool-results"
    return requests.post(url, json={"results": list(results)}, timeout=10)


def read_until_calls_end(stream: Iterator[StreamEvent], count: int) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for event in stream:
        events.append(event)
        if [e.type for e in events].count("TOOL_CALL_END") == count:
            return events
    raise AssertionError(f"the stream ended before {count} tool calls ended: {[e.type for e in events]}")


def test_a_client_tool_round_trip_with_two_calls(host: Devhost) -> None:
    started = start(host, {"message": "Please pick_colour and confirm_booking.", "tools": [COLOUR, BOOKING]})
    assert started["tool_results_url"].endswith(f"/runs/{started['run_id']}/tool-results")
    stream = host.iter_stream(started["stream_url"])
    events = read_until_calls_end(stream, 2)
    starts = [e.body for e in events if e.type == "TOOL_CALL_START"]
    assert [s["toolCallName"] for s in starts] == ["pick_colour", "confirm_booking"]
    colour_id, booking_id = (s["toolCallId"] for s in starts)
    arguments = {
        call_id: "".join(
            e.body["delta"] for e in events if e.type == "TOOL_CALL_ARGS" and e.body["toolCallId"] == call_id
        )
        for call_id in (colour_id, booking_id)
    }
    assert arguments == {
        colour_id: '{"palette": "warm", "count": 1}',
        booking_id: '{"note": "Please pick_colour and confirm_booking."}',
    }

    first = post_results(host, started, {"toolCallId": colour_id, "content": "teal"})
    assert first.status_code == 202, first.text
    assert first.json() == {"thread_id": started["thread_id"], "run_id": started["run_id"], "accepted": [colour_id]}
    again = post_results(host, started, {"toolCallId": colour_id, "content": "red"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "tool_call_answered"
    unknown = post_results(host, started, {"toolCallId": "call_nope", "content": "x"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "tool_call_not_found"
    duplicated = post_results(
        host, started, {"toolCallId": booking_id, "content": 1}, {"toolCallId": booking_id, "content": 2}
    )
    assert duplicated.status_code == 400 and duplicated.json()["error"]["code"] == "invalid_body"
    # A JSON result reaches the model as JSON text.
    second = post_results(host, started, {"toolCallId": booking_id, "content": {"confirmed": True}})
    assert second.status_code == 202, second.text

    events += list(stream)
    assert_contiguous(events)
    assert_well_ordered_run(events)
    results = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert [(r["toolCallId"], r["content"]) for r in results] == [
        (colour_id, "teal"),
        (booking_id, '{"confirmed": true}'),
    ]
    assert [e.type for e in events[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert "outcome" not in events[-1].body
    messages = host.status(started["thread_id"])["messages"]
    assert events[-2].body["messages"] == messages
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert messages[-1]["content"] == 'Here is what I found: teal; {"confirmed": true}.'

    over = post_results(host, started, {"toolCallId": booking_id, "content": "late"})
    assert over.status_code == 409 and over.json()["error"]["code"] == "run_not_waiting"
    missing = requests.post(
        f"{host.url}/api/agent/threads/{started['thread_id']}/runs/{'0' * 32}/tool-results",
        json={"results": [{"toolCallId": booking_id, "content": "x"}]},
        timeout=10,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"


def test_cancel_while_waiting_for_a_client_tool_ends_the_run_cancelled(host: Devhost) -> None:
    started = start(host, {"message": "confirm_booking now", "tools": [BOOKING]})
    stream = host.iter_stream(started["stream_url"])
    events = read_until_calls_end(stream, 1)
    response = requests.post(f"{host.url}{started['cancel_url']}", timeout=10)
    assert response.status_code == 202, response.text
    events += list(stream)
    assert_well_ordered_run(events)
    assert [e.type for e in events[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert events[-1].body["outcome"] == {"type": "cancelled"}
    call_id = next(e.body["toolCallId"] for e in events if e.type == "TOOL_CALL_START")
    late = post_results(host, started, {"toolCallId": call_id, "content": "too late"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "run_not_waiting"


def test_a_client_tool_left_unanswered_ends_the_run_with_tool_timeout(make_devhost) -> None:
    quick: Devhost = make_devhost({"CLIENT_TOOL_TIMEOUT_SECONDS": "1"})
    started = start(quick, {"message": "confirm_booking please", "tools": [BOOKING]})
    events = quick.stream(started["stream_url"], timeout=30)
    assert_well_ordered_run(events)
    assert [e.type for e in events[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_ERROR"]
    assert events[-1].body["code"] == "tool_timeout"
    status = quick.status(started["thread_id"])
    assert status["runs"][0]["status"] == "failed" and status["runs"][0]["error"]["code"] == "tool_timeout"
    # The thread goes on; the unanswered call stays in the conversation without a result.
    follow_up = start(quick, {"message": "Never mind.", "thread_id": started["thread_id"]})
    assert quick.stream(follow_up["stream_url"])[-1].type == "RUN_FINISHED"


def test_the_finish_mode_ends_with_the_call_pending_and_a_later_run_continues_with_the_answer(host: Devhost) -> None:
    started = start(host, {"message": "confirm_booking for two", "tools": [BOOKING]}, "/api/test/finishing-run")
    thread_id = started["thread_id"]
    first = host.stream(f"/api/agent/stream/{thread_id}?run_id={started['run_id']}")
    assert_well_ordered_run(first)
    call_id = next(e.body["toolCallId"] for e in first if e.type == "TOOL_CALL_START")
    assert "TOOL_CALL_RESULT" not in [e.type for e in first]
    assert [e.type for e in first[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert first[-1].body["outcome"] == {"type": "success", "pendingToolCallIds": [call_id]}
    assert host.status(thread_id)["active_run_id"] is None

    answer = {"role": "tool", "toolCallId": call_id, "content": "booked", "id": "answer-1"}
    wrong = requests.post(
        f"{host.url}/api/agent/run",
        json={"thread_id": thread_id, "messages": [{**answer, "toolCallId": "call_other"}]},
        timeout=10,
    )
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "tool_call_not_found"
    second = start(host, {"thread_id": thread_id, "messages": [answer]}, "/api/test/finishing-run")
    events = host.stream(f"/api/agent/stream/{thread_id}?run_id={second['run_id']}")
    assert_well_ordered_run(events, earlier_calls=(call_id,))
    assert events[1].body == {**events[1].body, "type": "TOOL_CALL_RESULT", "toolCallId": call_id, "content": "booked"}
    assert events[-1].type == "RUN_FINISHED" and "outcome" not in events[-1].body
    messages = host.status(thread_id)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[2] == {"id": "answer-1", "role": "tool", "toolCallId": call_id, "content": "booked"}
    assert messages[-1]["content"] == "Here is what I found: booked."

    answered = requests.post(
        f"{host.url}/api/agent/run", json={"thread_id": thread_id, "messages": [answer]}, timeout=10
    )
    assert answered.status_code == 409 and answered.json()["error"]["code"] == "tool_call_answered"
