"""The AG-UI core without a server: reconciling message lists, and rebuilding a conversation mid-run."""

from __future__ import annotations

from typing import Any

from ag_ui.core import RunAgentInput

from agentstream.agui.conversation import Conversation
from agentstream.agui.messages import new_messages, pending_tool_calls

STORED = [
    {"id": "u1", "role": "user", "content": "Weather?"},
    {
        "id": "a1",
        "role": "assistant",
        "content": "Looking.",
        "toolCalls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    },
    {"id": "c1.result", "role": "tool", "toolCallId": "c1", "content": "sunny"},
    {"id": "a2", "role": "assistant", "content": "Sunny."},
]


def parse(messages: list[dict[str, Any]]) -> list[Any]:
    return RunAgentInput.model_validate({"threadId": "t", "runId": "r", "messages": messages}).messages


def test_the_new_messages_are_those_after_the_last_one_the_thread_knows() -> None:
    client = [*STORED, {"id": "u2", "role": "user", "content": "And tomorrow?"}]
    assert new_messages(parse(client), STORED) == [{"id": "u2", "role": "user", "content": "And tomorrow?"}]


def test_a_client_that_edited_or_dropped_earlier_messages_changes_nothing_stored() -> None:
    client = [{"id": "a2", "role": "assistant", "content": "edited"}, {"id": "u2", "role": "user", "content": "Hi"}]
    assert [m["id"] for m in new_messages(parse(client), STORED)] == ["u2"]


def test_a_new_thread_is_seeded_with_the_whole_list_but_client_views() -> None:
    client = [
        {"id": "s", "role": "system", "content": "Be brief."},
        {"id": "r", "role": "reasoning", "content": "thinking"},
        {"id": "u", "role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]},
    ]
    assert new_messages(parse(client), []) == [
        {"id": "s", "role": "system", "content": "Be brief."},
        {"id": "u", "role": "user", "content": "Hello"},
    ]


def test_what_the_running_run_streams_counts_as_known() -> None:
    client = [
        *STORED,
        {"id": "u2", "role": "user", "content": "Go"},
        {"id": "a3", "role": "assistant", "content": "Wo"},
    ]
    assert new_messages(parse(client), [*STORED, client[4]], streaming={"a3"}) == []


def test_pending_tool_calls_are_the_unanswered_client_side_ones() -> None:
    asked = STORED[:2]
    assert pending_tool_calls(asked, server_tools=()) == ["c1"]
    assert pending_tool_calls(asked, server_tools={"get_weather"}) == []
    assert pending_tool_calls(STORED, server_tools=()) == []


def events_of_a_turn() -> list[dict[str, Any]]:
    return [
        {"type": "TEXT_MESSAGE_START", "messageId": "a3", "role": "assistant"},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": "a3", "delta": "Let me "},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": "a3", "delta": "see."},
        {"type": "TOOL_CALL_START", "toolCallId": "c2", "toolCallName": "calculate", "parentMessageId": "a3"},
        {"type": "TOOL_CALL_ARGS", "toolCallId": "c2", "delta": '{"expression": '},
    ]


def test_a_conversation_mid_turn_snapshots_what_is_finished_and_reopens_the_rest() -> None:
    conversation = Conversation(STORED)
    for event in events_of_a_turn():
        conversation.apply(event)

    assert conversation.snapshot().body()["messages"] == STORED
    assert [e.body() | {"timestamp": 0} for e in conversation.reopen()] == [
        {"type": "TEXT_MESSAGE_START", "messageId": "a3", "role": "assistant", "timestamp": 0},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": "a3", "delta": "Let me see.", "timestamp": 0},
        {
            "type": "TOOL_CALL_START",
            "toolCallId": "c2",
            "toolCallName": "calculate",
            "parentMessageId": "a3",
            "timestamp": 0,
        },
        {"type": "TOOL_CALL_ARGS", "toolCallId": "c2", "delta": '{"expression": ', "timestamp": 0},
    ]


def test_an_open_tool_call_of_a_finished_message_is_reopened_alone() -> None:
    conversation = Conversation(STORED)
    for event in [*events_of_a_turn(), {"type": "TEXT_MESSAGE_END", "messageId": "a3"}]:
        conversation.apply(event)

    assert conversation.snapshot().body()["messages"][-1] == {"id": "a3", "role": "assistant", "content": "Let me see."}
    assert [e.type for e in conversation.reopen()] == ["TOOL_CALL_START", "TOOL_CALL_ARGS"]


def test_a_discarded_attempt_leaves_the_conversation() -> None:
    conversation = Conversation(STORED)
    for event in events_of_a_turn():
        conversation.apply(event)
    conversation.apply({"type": "TOOL_CALL_END", "toolCallId": "c2"})
    conversation.apply({"type": "TEXT_MESSAGE_END", "messageId": "a3"})
    conversation.apply(
        {
            "type": "CUSTOM",
            "name": "agentstream.step_discarded",
            "value": {"stepId": "s", "attempt": 1, "messageIds": ["a3"], "toolCallIds": ["c2"]},
        }
    )
    assert conversation.messages == STORED
    assert conversation.reopen() == []


def test_an_open_reasoning_span_and_message_are_reopened_before_the_rest() -> None:
    conversation = Conversation([STORED[0]])
    for event in [
        {"type": "REASONING_START", "messageId": "r1"},
        {"type": "REASONING_MESSAGE_START", "messageId": "r1", "role": "reasoning"},
        {"type": "REASONING_MESSAGE_CONTENT", "messageId": "r1", "delta": "Hmm"},
    ]:
        conversation.apply(event)

    assert conversation.snapshot().body()["messages"] == [STORED[0]]
    assert [(e.type, e.body().get("delta")) for e in conversation.reopen()] == [
        ("REASONING_START", None),
        ("REASONING_MESSAGE_START", None),
        ("REASONING_MESSAGE_CONTENT", "Hmm"),
    ]
    conversation.apply({"type": "REASONING_MESSAGE_END", "messageId": "r1"})
    conversation.apply({"type": "REASONING_END", "messageId": "r1"})
    assert conversation.reopen() == []
    assert conversation.snapshot().body()["messages"][-1] == {"id": "r1", "role": "reasoning", "content": "Hmm"}
