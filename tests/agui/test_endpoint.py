"""POST /api/agent/ag-ui over real HTTP: runs, reconciliation of message lists, hydration, replay, errors."""

from __future__ import annotations

import re
import sqlite3
import uuid
from typing import Any

import pytest

from agentstream.functions.orchestration import run_instance_id
from tests.agui.stream import events, post, read_until_contents, texts, types
from tests.harness import Devhost

LONG = " ".join(["word"] * 400)  # the demo model quotes it: a reply of ~440 tokens, ~2 s at 200 tokens/s


def new_thread() -> str:
    return f"thread-{uuid.uuid4().hex[:12]}"


def user(text: str, message_id: str | None = None) -> dict[str, Any]:
    return {"id": message_id or f"user-{uuid.uuid4().hex[:8]}", "role": "user", "content": text}


def test_a_new_thread_gets_a_complete_run_under_the_clients_ids(agui_host: Devhost) -> None:
    thread = new_thread()
    body = {"threadId": thread, "runId": "run-1", "messages": [user("What is the weather in Paris?", "u1")]}
    got = events(agui_host, body)

    assert got[0] == {**got[0], "type": "RUN_STARTED", "threadId": thread, "runId": "run-1", "protocolVersion": "1.0"}
    assert types(got) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 5,
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TEXT_MESSAGE_END",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * (len(got) - 17),
        "TEXT_MESSAGE_END",
        "MESSAGES_SNAPSHOT",
        "RUN_FINISHED",
    ]
    # The client's own message is not echoed back: it already holds it.
    assert all(e.get("messageId") != "u1" for e in got)
    status = agui_host.status(thread)
    assert [r["run_id"] for r in status["runs"]] == ["run-1"]
    assert status["messages"][0] == {"id": "u1", "role": "user", "content": "What is the weather in Paris?"}
    assistant = {m["id"]: m.get("content") for m in status["messages"] if m["role"] == "assistant"}
    assert texts(got) == assistant
    assert got[-2]["messages"] == status["messages"]


def test_snake_case_input_and_a_full_history_store_only_the_new_message(agui_host: Devhost) -> None:
    thread = new_thread()
    first = events(agui_host, {"thread_id": thread, "run_id": "first", "messages": [user("Hello there", "u1")]})
    assert first[-1]["type"] == "RUN_FINISHED"
    history = agui_host.status(thread)["messages"]

    # What HttpAgent sends: everything it holds, the new message last.
    second = events(agui_host, {"thread_id": thread, "run_id": "second", "messages": [*history, user("Again", "u2")]})

    assert second[0]["runId"] == "second" and second[-1]["type"] == "RUN_FINISHED"
    messages = agui_host.status(thread)["messages"]
    assert messages[: len(history)] == history
    assert [m["id"] for m in messages[len(history) :]][0] == "u2"
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


def test_a_client_that_sends_only_the_new_message_continues_the_thread(agui_host: Devhost) -> None:
    thread = new_thread()
    events(agui_host, {"threadId": thread, "messages": [user("One", "u1")]})
    events(agui_host, {"threadId": thread, "messages": [user("Two", "u2")]})
    assert [m["role"] for m in agui_host.status(thread)["messages"]] == ["user", "assistant", "user", "assistant"]


def test_a_new_thread_seeded_with_a_history_streams_only_the_answer(agui_host: Devhost) -> None:
    thread = new_thread()
    call = {"id": "seed-call", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    history = [
        {"id": "s1", "role": "system", "content": "Be brief."},
        {"id": "u1", "role": "user", "content": "What time is it?"},
        {"id": "a1", "role": "assistant", "content": "Checking.", "toolCalls": [call]},
        {"id": "t1", "role": "tool", "toolCallId": "seed-call", "content": "12:00 UTC"},
        {"id": "u2", "role": "user", "content": "Thanks, and hello"},
    ]
    got = events(agui_host, {"threadId": thread, "messages": history})

    seeded = {"s1", "u1", "a1", "t1", "u2", "seed-call"}
    assert not seeded & ({e.get("messageId") for e in got} | {e.get("toolCallId") for e in got})
    assert types(got)[:2] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert agui_host.status(thread)["messages"][:5] == history


def test_run_ids_the_endpoint_cannot_use_are_replaced(agui_host: Devhost) -> None:
    thread = new_thread()
    got = events(agui_host, {"threadId": thread, "runId": "not a valid id!", "messages": [user("Hi", "u1")]})
    assert re.fullmatch(r"[0-9a-f]{32}", got[0]["runId"])
    again = events(agui_host, {"threadId": thread, "runId": got[0]["runId"], "messages": [user("Hi again", "u2")]})
    assert again[0]["runId"] != got[0]["runId"]
    assert len(agui_host.status(thread)["runs"]) == 2


def test_a_client_without_a_thread_id_gets_a_new_thread(agui_host: Devhost) -> None:
    with post(agui_host, {"messages": [user("Hi")]}, stream=True) as response:
        thread = response.headers["x-thread-id"]
        assert response.headers["x-run-id"]
    assert agui_host.wait_idle(thread)["runs"][0]["run_id"] == response.headers["x-run-id"]


def test_joining_a_running_run_reopens_what_is_streaming_and_follows_it_to_the_end(agui_host: Devhost) -> None:
    thread = new_thread()
    seen = read_until_contents(agui_host, {"threadId": thread, "messages": [user(LONG, "u1")]}, 5)
    run_id = seen[0]["runId"]
    message_id = seen[1]["messageId"]

    joined = events(agui_host, {"threadId": thread, "runId": "ignored", "messages": [user(LONG, "u1")]})

    assert types(joined)[:4] == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT"]
    assert joined[0]["runId"] == run_id
    assert joined[1]["messages"] == [{"id": "u1", "role": "user", "content": LONG}]
    assert joined[2] == {**joined[2], "messageId": message_id, "role": "assistant"}
    so_far = joined[3]["delta"]
    assert so_far.startswith("".join(e["delta"] for e in seen if e["type"] == "TEXT_MESSAGE_CONTENT"))
    assert set(types(joined[4:-3])) <= {"TEXT_MESSAGE_CONTENT"}
    assert types(joined)[-3:] == ["TEXT_MESSAGE_END", "MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    final = agui_host.status(thread)["messages"]
    assert texts(joined) == {message_id: final[1]["content"]}


def test_no_new_messages_on_an_idle_thread_replays_its_conversation_and_writes_nothing(agui_host: Devhost) -> None:
    thread = new_thread()
    events(agui_host, {"threadId": thread, "messages": [user("What time is it?", "u1")]})
    conversation = agui_host.status(thread)["messages"]
    before = agui_host.store_counts()

    got = events(agui_host, {"threadId": thread, "runId": "look", "messages": conversation})

    assert types(got) == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert got[0]["runId"] == got[2]["runId"] == "look"
    assert got[1]["messages"] == conversation
    assert "outcome" not in got[2]
    assert agui_host.store_counts() == before


def test_no_messages_on_an_unknown_thread_is_an_empty_conversation_and_creates_nothing(agui_host: Devhost) -> None:
    before = agui_host.store_counts()
    got = events(agui_host, {"threadId": new_thread(), "runId": "r", "messages": []})
    assert types(got) == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert got[1]["messages"] == []
    assert agui_host.store_counts() == before


def test_threads_that_choose_the_same_run_id_each_get_their_own_run(agui_host: Devhost) -> None:
    run_id = f"shared-{uuid.uuid4().hex[:8]}"
    running, during, after = new_thread(), new_thread(), new_thread()
    read_until_contents(agui_host, {"threadId": running, "runId": run_id, "messages": [user(LONG)]}, 5)
    # One start while the first run is still going, one after it has finished.
    assert events(agui_host, {"threadId": during, "runId": run_id, "messages": [user("Hi")]})[-1]["type"] == (
        "RUN_FINISHED"
    )
    agui_host.wait_idle(running, timeout=60)
    assert events(agui_host, {"threadId": after, "runId": run_id, "messages": [user("Hi")]})[-1]["type"] == (
        "RUN_FINISHED"
    )

    for thread in (running, during, after):
        assert [(r["run_id"], r["status"]) for r in agui_host.status(thread)["runs"]] == [(run_id, "succeeded")]
    with sqlite3.connect(agui_host.data_dir / "durable.db") as con:
        instances = dict(
            con.execute("SELECT instance_id, status FROM instances WHERE instance_id LIKE ?", (f"%{run_id}",))
        )
    assert instances == {run_instance_id(t, run_id): "Completed" for t in (running, during, after)}


def test_new_messages_while_a_run_is_active_get_409_and_write_nothing(agui_host: Devhost) -> None:
    thread = new_thread()
    with post(agui_host, {"threadId": thread, "messages": [user(LONG, "u1")]}, stream=True) as running:
        before = agui_host.store_counts()
        response = post(agui_host, {"threadId": thread, "messages": [user(LONG, "u1"), user("Stop!", "u2")]})
        run_id = running.headers["x-run-id"]
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "run_active"
    assert run_id in response.json()["error"]["message"]
    assert agui_host.store_counts()["messages"] == before["messages"]
    agui_host.wait_idle(thread)


def test_a_discarded_attempt_is_followed_by_a_snapshot_without_it(agui_host: Devhost) -> None:
    thread = new_thread()
    got = events(agui_host, {"threadId": thread, "messages": [user("Please [fail:model] now", "u1")]})

    discards = [i for i, e in enumerate(got) if e["type"] == "CUSTOM"]
    assert len(discards) == 3  # STEP_MAX_ATTEMPTS
    for index in discards:
        dropped = set(got[index]["value"]["messageIds"])
        snapshot = got[index + 1]
        assert snapshot["type"] == "MESSAGES_SNAPSHOT"
        assert snapshot["messages"] == [{"id": "u1", "role": "user", "content": "Please [fail:model] now"}]
        assert dropped and not dropped & {m["id"] for m in snapshot["messages"]}
    assert got[-1]["type"] == "RUN_ERROR" and got[-1]["code"] == "model_error"


def _tool_history(host: Devhost) -> tuple[str, list[dict[str, Any]]]:
    thread = new_thread()
    events(host, {"threadId": thread, "messages": [user("Weather in Oslo?", "u1")]})
    return thread, host.status(thread)["messages"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ([], 400, "invalid_body"),
        ({"threadId": "bad id!", "messages": []}, 400, "invalid_thread_id"),
        ({"threadId": 7, "messages": []}, 400, "invalid_thread_id"),
        ({"threadId": "t-missing-messages"}, 400, "invalid_body"),
        ({"messages": [{"id": "a", "role": "wizard", "content": "x"}]}, 400, "invalid_body"),
        ({"messages": [{"id": "a", "role": "user", "content": "   "}]}, 400, "invalid_messages"),
        ({"messages": [user("a"), {"id": "b", "role": "assistant", "content": "b"}]}, 400, "invalid_messages"),
        ({"messages": [user("a", "same"), user("b", "same")]}, 400, "duplicate_message_id"),
        (
            {"messages": [{"id": "t", "role": "tool", "toolCallId": "call_nowhere", "content": "42"}]},
            404,
            "tool_call_not_found",
        ),
        ({"messages": [user("a")], "tools": [{"name": "get_weather", "description": "mine"}]}, 400, "invalid_tools"),
        ({"messages": [user("a")], "tools": [{"name": "bad name", "description": "x"}]}, 400, "invalid_tools"),
        (
            {
                "messages": [
                    {
                        "id": "img",
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "value": "https://x/y.png"}}],
                    }
                ]
            },
            400,
            "unsupported_content",
        ),
        ({"messages": [user("x" * 32_001)]}, 413, "payload_too_large"),
    ],
)
def test_bad_input_is_refused_before_the_stream_and_writes_nothing(
    agui_host: Devhost, body: Any, status: int, code: str
) -> None:
    before = agui_host.store_counts()
    if isinstance(body, str):
        response = post(agui_host, None, data=body, headers={"Content-Type": "application/json"})
    else:
        response = post(agui_host, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    assert agui_host.store_counts() == before


def test_a_body_that_is_not_json_is_refused_with_415(agui_host: Devhost) -> None:
    response = post(agui_host, None, data="hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_tool_result_for_a_call_that_already_has_one_is_refused(agui_host: Devhost) -> None:
    thread, history = _tool_history(agui_host)
    answered = next(m for m in history if m["role"] == "tool")
    again = {"id": "again", "role": "tool", "toolCallId": answered["toolCallId"], "content": "again"}
    response = post(agui_host, {"threadId": thread, "messages": [*history, again]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tool_call_answered"


CONFIRM = {
    "name": "confirm_booking",
    "description": "Ask the user to confirm a booking.",
    "parameters": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
}


def test_a_frontend_tool_call_finishes_the_run_and_the_next_run_carries_its_result(agui_host: Devhost) -> None:
    thread = new_thread()
    ask = user("Please confirm_booking for two nights.", "u1")
    first = events(agui_host, {"threadId": thread, "runId": "ask", "messages": [ask], "tools": [CONFIRM]})

    [start] = [e for e in first if e["type"] == "TOOL_CALL_START"]
    assert start["toolCallName"] == "confirm_booking"
    assert "TOOL_CALL_RESULT" not in types(first)
    assert first[-1]["outcome"] == {"type": "success", "pendingToolCallIds": [start["toolCallId"]]}
    history = agui_host.status(thread)["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    # A client that reloads meanwhile gets the conversation and the call still waiting for it.
    replay = events(agui_host, {"threadId": thread, "runId": "look", "messages": []})
    assert replay[-1]["outcome"] == {"type": "success", "pendingToolCallIds": [start["toolCallId"]]}

    answer = {"id": "answer-1", "role": "tool", "toolCallId": start["toolCallId"], "content": "Booked: 2 nights"}
    second = events(
        agui_host, {"threadId": thread, "runId": "go-on", "messages": [*history, answer], "tools": [CONFIRM]}
    )

    assert "answer-1" not in {e.get("messageId") for e in second}  # the client's own message, not echoed
    assert second[-1]["type"] == "RUN_FINISHED" and "outcome" not in second[-1]
    final = agui_host.status(thread)["messages"]
    assert [m["role"] for m in final] == ["user", "assistant", "tool", "assistant"]
    assert final[2] == answer
    assert final[3]["content"] == "Here is what I found: Booked: 2 nights."
    assert texts(second) == {final[3]["id"]: final[3]["content"]}


def test_with_function_keys_the_endpoint_needs_the_key_and_hands_out_a_stream_token(make_devhost) -> None:
    key = "agui-test-function-key-0123456789"
    host: Devhost = make_devhost(
        {"API_AUTH": "function_key", "DEVHOST_FUNCTION_KEY": key, "STREAM_TOKEN_SECRET": "s" * 40}
    )
    body = {"threadId": "keyed", "messages": [user("Hello", "u1")]}
    refused = post(host, body)
    assert refused.status_code == 401
    assert host.store_counts()["threads"] == 0

    with post(host, body, headers={"x-functions-key": key}, stream=True) as response:
        assert response.status_code == 200
        token = response.headers["x-stream-token"]
        assert b'"RUN_FINISHED"' in b"".join(response.iter_content(chunk_size=None))
    plain = host.stream("/api/agent/stream/keyed", headers={"Authorization": f"Bearer {token}"})
    assert plain[-1].type == "RUN_FINISHED"
