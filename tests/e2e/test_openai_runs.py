"""Runs with MODEL_PROVIDER=openai over real HTTP: devhost → the `openai` SDK → the local
OpenAI-compatible server, and the stream read back from devhost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agentstream.log.snapshots import COMPACT_SNAPSHOT
from tests.checks import (
    assert_contiguous,
    assert_well_ordered_run,
    assistant_texts,
    discarded_ids,
    text_by_message,
)
from tests.harness import Devhost, StreamEvent
from tests.openai_server import OpenAIServer, Reply

WEATHER_ARGS = '{"city": "Paris"}'
TIME_ARGS = '{"timezone": "Europe/Paris"}'
BOOKING = {
    "name": "confirm_booking",
    "description": "Ask the user to confirm a booking.",
    "parameters": {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


def openai_env(server: OpenAIServer, **extra: str) -> dict[str, str]:
    return {
        "MODEL_PROVIDER": "openai",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_MODEL": "gpt-test",
        "MODEL_TIMEOUT_SECONDS": "2",
        **extra,
    }


@pytest.fixture(scope="module")
def host(server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    # Two attempts per step keep the runs that fail to the end short.
    started = Devhost(tmp_path_factory.mktemp("openai") / "data", openai_env(server, STEP_MAX_ATTEMPTS="2")).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def crash_host(server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    """A devhost the tests kill with SIGKILL and start again."""
    started = Devhost(tmp_path_factory.mktemp("openai-crash") / "data", openai_env(server)).start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> Iterator[None]:
    server.reset()
    yield
    assert server.pending_replies == 0, "a scripted reply was never asked for"


def chat_messages(server: OpenAIServer) -> list[list[dict[str, Any]]]:
    """The conversation of each model call, after the app's instructions, which lead every call."""
    conversations = []
    for request in server.chat_requests():
        instructions, *conversation = request["messages"]
        assert instructions["role"] == "system" and instructions["content"].startswith("You are a helpful assistant.")
        conversations.append(conversation)
    return conversations


def test_two_parallel_tool_calls_then_an_answer(host: Devhost, server: OpenAIServer) -> None:
    server.script(
        Reply(tool_calls=[("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], prompt_tokens=30),
        Reply(text="Paris is mild, and it is noon.", prompt_tokens=50),
    )
    started = host.start_run("Weather in Paris, and the time there?")
    events = host.stream(started["stream_url"])
    assert_contiguous(events, events[0].id)
    assert_well_ordered_run(events)
    calls = [e.body for e in events if e.type == "TOOL_CALL_START"]
    assert [c["toolCallName"] for c in calls] == ["get_weather", "get_time"]
    arguments = {
        c["toolCallId"]: "".join(
            e.body["delta"] for e in events if e.type == "TOOL_CALL_ARGS" and e.body["toolCallId"] == c["toolCallId"]
        )
        for c in calls
    }
    assert list(arguments.values()) == [WEATHER_ARGS, TIME_ARGS]
    results = {e.body["toolCallId"]: e.body["content"] for e in events if e.type == "TOOL_CALL_RESULT"}
    assert set(results) == set(arguments) and results[calls[0]["toolCallId"]].startswith("Paris: ")

    first, second = chat_messages(server)
    assert first == [{"role": "user", "content": "Weather in Paris, and the time there?"}]
    assert second[1]["tool_calls"] == [
        {"id": c["toolCallId"], "type": "function", "function": {"name": c["toolCallName"], "arguments": a}}
        for c, a in zip(calls, arguments.values(), strict=True)
    ]
    assert {m["tool_call_id"]: m["content"] for m in second[2:]} == results
    assert server.chat_requests()[0]["model"] == "gpt-test"
    assert {t["function"]["name"] for t in server.chat_requests()[0]["tools"]} == {
        "get_weather",
        "get_time",
        "calculate",
        "book_table",
    }

    status = host.status(started["thread_id"])
    assert (
        text_by_message(events)
        == assistant_texts(status["messages"])
        == {
            next(
                m["id"] for m in status["messages"] if m.get("content") == "Paris is mild, and it is noon."
            ): "Paris is mild, and it is noon."
        }
    )
    finished = events[-1].body
    tool_deltas = len(WEATHER_ARGS) // 7 + 1 + len(TIME_ARGS) // 7 + 1
    assert finished["usage"] == [{"inputTokens": 80, "outputTokens": tool_deltas + 6, "totalTokens": 86 + tool_deltas}]


def test_broken_arguments_from_the_model_come_back_to_it_as_an_error_result(
    host: Devhost, server: OpenAIServer
) -> None:
    server.script(Reply(tool_calls=[("get_weather", '{"city": ')]), Reply(text="Let me fix that."))
    started = host.start_run("Weather?")
    events = host.stream(started["stream_url"])
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED"
    [result] = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert result["content"].startswith("Error: invalid arguments: ") and "JSON" in result["content"]
    *_, answer = chat_messages(server)
    assert answer[-1] == {"role": "tool", "tool_call_id": result["toolCallId"], "content": result["content"]}
    assert answer[-2]["tool_calls"][0]["function"]["arguments"] == '{"city": '


def test_reasoning_then_answer(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(reasoning="The user greets me. ", text="Hello!"))
    started = host.start_run("Hi")
    events = host.stream(started["stream_url"])
    assert_well_ordered_run(events)
    types = [e.type for e in events]
    assert types[4:7] == ["REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT"]
    assert types.index("REASONING_END") < types.index("TEXT_MESSAGE_START", 4)
    messages = host.status(started["thread_id"])["messages"]
    assert [(m["role"], m.get("content")) for m in messages] == [
        ("user", "Hi"),
        ("reasoning", "The user greets me. "),
        ("assistant", "Hello!"),
    ]


def test_a_client_side_tool_round_trip(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(tool_calls=[("confirm_booking", '{"note": "two at eight"}')]), Reply(text="Booked."))
    started = host.start_run("Book a table", tools=[BOOKING])
    stream = host.iter_stream(started["stream_url"])
    events: list[StreamEvent] = []
    for event in stream:
        events.append(event)
        if event.type == "TOOL_CALL_END":
            break
    call_id = events[-1].body["toolCallId"]
    response = requests.post(
        f"{host.url}{started['tool_results_url']}",
        json={"results": [{"toolCallId": call_id, "content": "confirmed by the user"}]},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    events += list(stream)
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED"
    first, second = server.chat_requests()
    assert {"type": "function", "function": BOOKING} in first["tools"]
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": call_id, "content": "confirmed by the user"}
    assert host.status(started["thread_id"])["messages"][-1]["content"] == "Booked."


def test_a_three_run_conversation_sends_every_earlier_message(host: Devhost, server: OpenAIServer) -> None:
    server.script(
        Reply(text="Nice to meet you, Ada."),
        Reply(tool_calls=[("calculate", '{"expression": "6*7"}')]),
        Reply(text="It is 42."),
        Reply(text="Your name is Ada."),
    )
    first = host.start_run("My name is Ada.")
    thread_id = first["thread_id"]
    host.wait_idle(thread_id)
    second = host.start_run("What is 6*7?", thread_id=thread_id)
    host.wait_idle(thread_id)
    third = host.start_run("What is my name?", thread_id=thread_id)
    events = host.stream(third["stream_url"])
    assert events[-1].type == "RUN_FINISHED"

    *_, last = chat_messages(server)
    [call] = last[3]["tool_calls"]
    assert last == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is 6*7?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "6*7 = 42"},
        {"role": "assistant", "content": "It is 42."},
        {"role": "user", "content": "What is my name?"},
    ]
    # Each run ends with a snapshot of the whole conversation so far, for a reader of that run.
    conversation = host.status(thread_id)["messages"]
    for run, length in ((first, 2), (second, 6), (third, 8)):
        [snapshot] = [e.body for e in host.stream(run["stream_url"]) if e.type == "MESSAGES_SNAPSHOT"]
        assert snapshot["messages"] == conversation[:length]
    # A replay of the whole thread sends the middle run's snapshot compact: only what it added.
    whole = host.stream(f"/api/agent/stream/{thread_id}")
    closing = [e for e in whole if e.type == "MESSAGES_SNAPSHOT" or e.body.get("name") == COMPACT_SNAPSHOT]
    assert [e.type for e in closing] == ["MESSAGES_SNAPSHOT", "CUSTOM", "MESSAGES_SNAPSHOT"]
    assert closing[1].body["value"] == {"messageCount": 6, "messages": conversation[2:6]}
    assert closing[-1].body["messages"] == conversation
    assert [r["run_id"] for r in host.status(thread_id)["runs"]] == [first["run_id"], second["run_id"], third["run_id"]]


def test_tool_call_ids_a_server_repeats_or_leaves_out_are_replaced(host: Devhost, server: OpenAIServer) -> None:
    # Some compatible servers number calls from 0 in every turn, or send no id at all.
    server.script(
        Reply(tool_calls=[("get_time", "{}")], call_ids=["call_0"]),
        Reply(text="Noon."),
        Reply(tool_calls=[("get_time", "{}"), ("get_weather", WEATHER_ARGS)], call_ids=["call_0", ""]),
        Reply(text="Still noon, and mild."),
    )
    first = host.start_run("Time?")
    host.wait_idle(first["thread_id"])
    second = host.start_run("Time and weather?", thread_id=first["thread_id"])
    events = host.stream(second["stream_url"])
    assert_well_ordered_run(events)
    ids = [e.body["toolCallId"] for e in events if e.type == "TOOL_CALL_START"]
    assert len(set(ids)) == 2 and "call_0" not in ids and "" not in ids
    messages = host.status(first["thread_id"])["messages"]
    calls = [c["id"] for m in messages for c in m.get("toolCalls", [])]
    answers = [m["toolCallId"] for m in messages if m["role"] == "tool"]
    # Parallel tool steps commit their results in either order.
    assert calls == ["call_0", *ids] and sorted(answers) == sorted(calls)
    *_, last = chat_messages(server)
    assert [c["id"] for m in last for c in m.get("tool_calls", [])] == calls
    assert [m["tool_call_id"] for m in last if m["role"] == "tool"] == answers


def test_cancel_mid_stream(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(text=" ".join(f"word{i}" for i in range(300)), chunk_delay=0.05))
    started = host.start_run("Talk for a while.")
    events: list[StreamEvent] = []
    for event in host.iter_stream(started["stream_url"]):
        events.append(event)
        if event.type == "TEXT_MESSAGE_CONTENT" and event.body["delta"] == "word3 ":
            response = requests.post(f"{host.url}{started['cancel_url']}", timeout=10)
            assert response.status_code == 202
    assert_well_ordered_run([e for e in events if e.type != "CUSTOM"])
    assert events[-1].body["outcome"] == {"type": "cancelled"}
    assert sum(e.type == "TEXT_MESSAGE_CONTENT" for e in events) < 150  # stopped well before the end
    assert len(discarded_ids(events)) == 1
    assert [m["role"] for m in host.status(started["thread_id"])["messages"]] == ["user"]


@pytest.mark.parametrize(
    "failures",
    [
        [Reply(status=429, retry_after_ms=200)],
        [Reply(status=500), Reply(status=502)],
        [Reply(text="stuck", hang_after=1)],
    ],
    ids=["429", "5xx", "timeout"],
)
def test_failures_before_anything_streamed_are_retried_invisibly(
    host: Devhost, server: OpenAIServer, failures: list[Reply]
) -> None:
    server.script(*failures, Reply(text="Got there."))
    started = host.start_run("Try hard.")
    events = host.stream(started["stream_url"], timeout=60)
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED"
    assert not discarded_ids(events)
    assert len(server.chat_requests()) == len(failures) + 1


def test_a_cut_mid_stream_discards_the_attempt_and_redoes_the_step(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(text="alpha beta gamma delta", cut_after=4), Reply(text="alpha beta gamma delta epsilon"))
    started = host.start_run("Cut me off.")
    events = host.stream(started["stream_url"], timeout=60)
    assert_contiguous(events, events[0].id)
    assert events[-1].type == "RUN_FINISHED"
    [discarded] = discarded_ids(events)
    attempts = [
        e.body["messageId"] for e in events if e.type == "TEXT_MESSAGE_START" and e.body.get("role") == "assistant"
    ]
    assert attempts[0] == discarded and len(attempts) == 2
    messages = host.status(started["thread_id"])["messages"]
    assert text_by_message(events) == assistant_texts(messages) == {attempts[1]: "alpha beta gamma delta epsilon"}


@pytest.mark.parametrize(
    ("replies", "code", "requests_made"),
    [
        ([Reply(status=400, error_code="content_filter")], "content_filter", 1),
        ([Reply(text="Something I must not say", finish_reason="content_filter")], "content_filter", 1),
        ([Reply(status=400, error_code="context_length_exceeded")], "model_error", 1),
        ([Reply(status=500)] * 6, "model_unavailable", 6),
    ],
    ids=["400 content filter", "finish_reason content_filter", "400", "5xx to the end"],
)
def test_final_failures_end_the_run_with_run_error_and_a_code(
    host: Devhost, server: OpenAIServer, replies: list[Reply], code: str, requests_made: int
) -> None:
    server.script(*replies)
    started = host.start_run("Say something risky.")
    events = host.stream(started["stream_url"], timeout=60)
    assert_well_ordered_run(events)
    assert [e.type for e in events[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_ERROR"]
    assert events[-1].body["code"] == code
    assert len(server.chat_requests()) == requests_made
    status = host.status(started["thread_id"])
    assert status["runs"][0]["error"]["code"] == code
    assert [m["role"] for m in status["messages"]] == ["user"]
    assert text_by_message(events) == {}


def test_sigkill_after_some_deltas_then_restart_redoes_the_step_once(crash_host: Devhost, server: OpenAIServer) -> None:
    host = crash_host
    words = " ".join(f"w{i}" for i in range(40))
    server.script(Reply(text=words, chunk_delay=0.05), Reply(text=words))
    started = host.start_run("Stream, then crash.")
    path = f"/api/agent/stream/{started['thread_id']}"
    before: list[StreamEvent] = []
    for event in host.iter_stream(path):
        before.append(event)
        if sum(e.type == "TEXT_MESSAGE_CONTENT" for e in before) == 6:
            break
    host.kill()
    host.start()
    events = before + host.stream(path, headers={"Last-Event-ID": str(before[-1].id)}, timeout=60)
    assert_contiguous(events)
    assert events[-1].type == "RUN_FINISHED" and [e.type for e in events].count("RUN_FINISHED") == 1
    [discarded] = discarded_ids(events)
    messages = host.status(started["thread_id"])["messages"]
    assert text_by_message(events) == assistant_texts(messages)
    assert list(assistant_texts(messages).values()) == [words]
    assert discarded not in assistant_texts(messages)
    assert len(server.chat_requests()) == 2
    assert events == host.stream(path)


def test_sigkill_after_a_commit_never_asks_the_model_again(crash_host: Devhost, server: OpenAIServer) -> None:
    host = crash_host
    # The answer is the server's echo, whatever attempt asks for it: the kill may cut the second step.
    server.script(Reply(tool_calls=[("get_weather", WEATHER_ARGS)]))
    started = host.start_run("Weather in Paris?")
    path = f"/api/agent/stream/{started['thread_id']}"
    before: list[StreamEvent] = []
    for event in host.iter_stream(path):
        before.append(event)
        if event.type == "TOOL_CALL_END":  # written by the commit of the first model step
            break
    host.kill()
    host.start()
    events = before + host.stream(path, headers={"Last-Event-ID": str(before[-1].id)}, timeout=60)
    assert_contiguous(events)
    assert_well_ordered_run([e for e in events if e.type != "CUSTOM"])
    # The first step committed before the kill: whatever the durable history had recorded, it was not redone.
    first_step_requests = [m for m in chat_messages(server) if len(m) == 1]
    assert len(first_step_requests) == 1
    assert [e.type for e in events].count("TOOL_CALL_START") == 1
    assert [e.type for e in events].count("TOOL_CALL_RESULT") == 1
    messages = host.status(started["thread_id"])["messages"]
    assert text_by_message(events) == assistant_texts(messages)
    assert messages[-1]["content"] == "Echo: Weather in Paris?"
    assert events[-1].type == "RUN_FINISHED"
