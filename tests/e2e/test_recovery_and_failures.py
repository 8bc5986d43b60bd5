"""Crashes and failures: SIGKILL mid-run, model and tool failures, and bad input that writes nothing."""

from __future__ import annotations

import time

import pytest
import requests

from tests.checks import (
    assert_contiguous,
    assert_well_ordered_run,
    assistant_texts,
    discarded_ids,
    text_by_message,
)
from tests.harness import Devhost, StreamEvent
from tests.stores.backends import Backend


def test_sigkill_mid_run_then_restart_finishes_the_run_with_no_gap_or_duplicate(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "40"})
    started = host.start_run("Please give me a long answer.")
    path = f"/api/agent/stream/{started['thread_id']}"
    before: list[StreamEvent] = []
    for event in host.iter_stream(path):
        before.append(event)
        if event.type == "TEXT_MESSAGE_CONTENT" and len(before) >= 12:
            break
    host.kill()
    host.start()
    after = host.stream(path, headers={"Last-Event-ID": str(before[-1].id)})
    events = before + after

    assert_contiguous(events)
    assert [e.type for e in events].count("RUN_FINISHED") == 1 and events[-1].type == "RUN_FINISHED"
    # The attempt cut off by the kill is closed and marked discarded; the redo is what was committed.
    assert len(discarded_ids(events)) == 1
    status = host.status(started["thread_id"])
    assert text_by_message(events) == assistant_texts(status["messages"])
    assert status["runs"][0]["status"] == "succeeded"
    assert events == host.stream(path)
    assert_well_ordered_run([e for e in events if e.type != "CUSTOM"])


def test_a_model_failure_ends_the_run_with_run_error_and_the_reader_ends(devhost: Devhost) -> None:
    started = devhost.start_run("Break please [fail:model]")
    begin = time.monotonic()
    events = devhost.stream(started["stream_url"], timeout=20)
    assert time.monotonic() - begin < 10
    assert_contiguous(events)
    assert events[-1].type == "RUN_ERROR"
    assert events[-1].body["code"] == "model_error"
    assert "[fail:model]" in events[-1].body["message"]
    assert [e.type for e in events].count("RUN_ERROR") == 1
    # Three attempts, each closed and marked discarded; nothing of them reached the messages.
    markers = [e for e in events if e.type == "CUSTOM"]
    assert [m.body["value"]["attempt"] for m in markers] == [1, 2, 3]
    status = devhost.status(started["thread_id"])
    assert [m["role"] for m in status["messages"]] == ["user"]
    assert status["runs"][0]["status"] == "failed"
    assert status["runs"][0]["error"]["code"] == "model_error"
    assert text_by_message(events) == {}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("Use a tool that breaks [fail:tool]", "ZeroDivisionError: division by zero"),
        ("Please calculate " + "1" * 201, "invalid arguments: expression: String should have at most 200 characters"),
    ],
    ids=["tool raises", "invalid arguments"],
)
def test_a_failing_tool_call_gives_the_model_an_error_result_and_the_run_goes_on(
    devhost: Devhost, message: str, error: str
) -> None:
    started = devhost.start_run(message)
    events = devhost.stream(started["stream_url"], timeout=20)
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED"
    [result] = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert result["content"] == f"Error: {error}"
    status = devhost.status(started["thread_id"])
    tool_message = next(m for m in status["messages"] if m["role"] == "tool")
    assert tool_message == {
        "id": result["messageId"],
        "role": "tool",
        "toolCallId": result["toolCallId"],
        "content": f"Error: {error}",
        "error": error,
    }
    # The model read the error and answered with it.
    assert status["messages"][-1]["content"] == f"Here is what I found: Error: {error}."
    assert status["runs"][0]["status"] == "succeeded"


BAD_RUN_REQUESTS = [
    ("invalid JSON", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ("not an object", {"json": ["hello"]}, 400, "invalid_body"),
    ("missing message", {"json": {}}, 400, "invalid_body"),
    ("empty message", {"json": {"message": "   "}}, 400, "invalid_body"),
    ("empty text body", {"data": b"", "headers": {"Content-Type": "text/plain"}}, 400, "invalid_body"),
    ("unknown field", {"json": {"message": "hi", "colour": "red"}}, 400, "invalid_body"),
    (
        "messages not ending with user",
        {"json": {"messages": [{"role": "assistant", "content": "x"}]}},
        400,
        "invalid_body",
    ),
    (
        "wrong media type",
        {"data": b"message=hi", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        "unsupported_media_type",
    ),
    ("body over the limit", {"json": {"message": "x" * 300_000}}, 413, "payload_too_large"),
    ("message over the limit", {"json": {"message": "x" * 40_000}}, 413, "payload_too_large"),
    (
        "thread id with forbidden characters",
        {"json": {"message": "hi", "thread_id": "a/b#c"}},
        400,
        "invalid_thread_id",
    ),
    ("thread id too long", {"json": {"message": "hi", "thread_id": "a" * 65}}, 400, "invalid_thread_id"),
    ("unknown thread id", {"json": {"message": "hi", "thread_id": "f" * 32}}, 404, "thread_not_found"),
    ("tools not a list", {"json": {"message": "hi", "tools": {"name": "x"}}}, 400, "invalid_tools"),
    ("tool without a description", {"json": {"message": "hi", "tools": [{"name": "x"}]}}, 400, "invalid_tools"),
    (
        "tool name with a space",
        {"json": {"message": "hi", "tools": [{"name": "do it", "description": "d"}]}},
        400,
        "invalid_tools",
    ),
    (
        "tool parameters not an object schema",
        {"json": {"message": "hi", "tools": [{"name": "x", "description": "d", "parameters": {"type": "string"}}]}},
        400,
        "invalid_tools",
    ),
    (
        "tool parameters requiring an undeclared argument",
        {
            "json": {
                "message": "hi",
                "tools": [{"name": "x", "description": "d", "parameters": {"type": "object", "required": ["a"]}}],
            }
        },
        400,
        "invalid_tools",
    ),
    (
        "tool declared twice",
        {"json": {"message": "hi", "tools": [{"name": "x", "description": "d"}, {"name": "x", "description": "e"}]}},
        400,
        "invalid_tools",
    ),
    (
        "tool named like a server tool",
        {"json": {"message": "hi", "tools": [{"name": "get_weather", "description": "d"}]}},
        400,
        "invalid_tools",
    ),
    (
        "tool message answering no call",
        {"json": {"messages": [{"role": "tool", "toolCallId": "call_1", "content": "x"}]}},
        404,
        "tool_call_not_found",
    ),
    (
        "tool message without a tool call id",
        {"json": {"messages": [{"role": "tool", "content": "x"}]}},
        400,
        "invalid_body",
    ),
]


@pytest.fixture(scope="module")
def limited_devhost(tmp_path_factory: pytest.TempPathFactory, backend: Backend):
    env = {**backend.new_env(), "MAX_REQUEST_BYTES": "200000"}
    host = Devhost(tmp_path_factory.mktemp("limited") / "data", env, backend=backend).start()
    yield host
    host.stop()


@pytest.mark.parametrize(
    ("case", "request_args", "status", "code"), BAD_RUN_REQUESTS, ids=[c[0] for c in BAD_RUN_REQUESTS]
)
def test_bad_run_requests_get_a_json_error_and_write_nothing(
    limited_devhost: Devhost, case, request_args, status, code
):
    before = limited_devhost.store_counts()
    response = requests.post(f"{limited_devhost.url}/api/agent/run", timeout=10, **request_args)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert limited_devhost.store_counts() == before


def test_bad_stream_requests_get_a_json_error(limited_devhost: Devhost) -> None:
    started = limited_devhost.start_run("Cursor checks.")
    limited_devhost.wait_idle(started["thread_id"])
    last = limited_devhost.status(started["thread_id"])["last_event_id"]
    base = f"{limited_devhost.url}/api/agent/stream"
    cases = [
        (f"{base}/{started['thread_id']}?after=abc", {}, 400, "invalid_cursor"),
        (f"{base}/{started['thread_id']}", {"Last-Event-ID": "-3"}, 400, "invalid_cursor"),
        (f"{base}/{started['thread_id']}?after={last + 1}", {}, 400, "cursor_out_of_range"),
        (f"{base}/{started['thread_id']}", {"Last-Event-ID": str(last + 50)}, 400, "cursor_out_of_range"),
        (f"{base}/bad%20id!", {}, 400, "invalid_thread_id"),
        (f"{base}/{'a' * 65}", {}, 400, "invalid_thread_id"),
        (f"{base}/{started['thread_id']}?run_id={'e' * 32}", {}, 404, "run_not_found"),
        (f"{base}/{started['thread_id']}?follow=maybe", {}, 400, "invalid_query"),
    ]
    before = limited_devhost.store_counts()
    for url, headers, status, code in cases:
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == status, (url, response.text)
        assert response.json()["error"]["code"] == code, url
    assert limited_devhost.store_counts() == before
