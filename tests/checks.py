"""Assertions about event sequences, shared by the tests."""

from __future__ import annotations

from typing import Any

from tests.harness import StreamEvent

TERMINAL = {"RUN_FINISHED", "RUN_ERROR"}


def assert_contiguous(events: list[StreamEvent], first: int = 1) -> None:
    ids = [e.id for e in events]
    assert ids == list(range(first, first + len(ids))), f"ids not contiguous: {ids}"


def assert_well_ordered_run(events: list[StreamEvent], earlier_calls: tuple[str, ...] = ()) -> None:
    """RUN_STARTED first; every content event inside its open message or tool call; one terminal event, last.

    A TOOL_CALL_RESULT answers a call of this run, or one of `earlier_calls` (a client-side tool
    call answered by a later run).
    """
    assert events[0].type == "RUN_STARTED", events[0]
    assert [e.type for e in events].count("RUN_STARTED") == 1
    terminal = [e for e in events if e.type in TERMINAL]
    assert len(terminal) == 1 and events[-1] is terminal[0], [e.type for e in events]
    open_messages: set[str] = set()
    open_calls: set[str] = set()
    started_calls: set[str] = set(earlier_calls)
    open_reasoning: set[tuple[str, str]] = set()
    for event in events:
        body = event.body
        match event.type:
            case "TEXT_MESSAGE_START":
                assert body["messageId"] not in open_messages
                open_messages.add(body["messageId"])
            case "TEXT_MESSAGE_CONTENT":
                assert body["messageId"] in open_messages, body
                assert body["delta"], body
            case "TEXT_MESSAGE_END":
                open_messages.remove(body["messageId"])
            case "TOOL_CALL_START":
                open_calls.add(body["toolCallId"])
                started_calls.add(body["toolCallId"])
            case "TOOL_CALL_ARGS":
                assert body["toolCallId"] in open_calls, body
            case "TOOL_CALL_END":
                open_calls.remove(body["toolCallId"])
            case "REASONING_START" | "REASONING_MESSAGE_START":
                key = (event.type, body["messageId"])
                assert key not in open_reasoning, body
                open_reasoning.add(key)
            case "REASONING_MESSAGE_CONTENT":
                assert ("REASONING_MESSAGE_START", body["messageId"]) in open_reasoning and body["delta"], body
            case "REASONING_END" | "REASONING_MESSAGE_END":
                open_reasoning.remove((event.type.replace("_END", "_START"), body["messageId"]))
            case "TOOL_CALL_RESULT":
                assert body["toolCallId"] in started_calls and body["toolCallId"] not in open_calls, body
    if events[-1].type == "RUN_FINISHED":
        assert not open_messages and not open_calls and not open_reasoning, (open_messages, open_calls, open_reasoning)


def discarded_ids(events: list[StreamEvent]) -> set[str]:
    ids: set[str] = set()
    for event in events:
        if event.type == "CUSTOM" and event.body["name"] == "agentstream.step_discarded":
            ids.update(event.body["value"]["messageIds"])
            ids.update(event.body["value"]["toolCallIds"])
    return ids


def text_by_message(events: list[StreamEvent]) -> dict[str, str]:
    """Concatenated deltas per message, leaving out user messages and discarded attempts."""
    dropped = discarded_ids(events)
    roles: dict[str, str] = {}
    texts: dict[str, str] = {}
    for event in events:
        if event.type == "TEXT_MESSAGE_START":
            roles[event.body["messageId"]] = event.body.get("role", "assistant")
        elif event.type == "TEXT_MESSAGE_CONTENT":
            message_id = event.body["messageId"]
            if roles.get(message_id) == "assistant" and message_id not in dropped:
                texts[message_id] = texts.get(message_id, "") + event.body["delta"]
    return texts


def assistant_texts(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {m["id"]: m["content"] for m in messages if m["role"] == "assistant" and m.get("content")}
