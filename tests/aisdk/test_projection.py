"""The UI message stream mapping and the chat request's messages, in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentstream.aisdk.messages import new_messages, to_ui_messages
from agentstream.aisdk.stream import UIMessageProjection, turn_chunks
from agentstream.exceptions import InvalidRequest
from agentstream.log.events import Envelope

RUN = "run1"


def envelopes(*bodies: dict[str, Any], run_id: str = RUN) -> list[Envelope]:
    return [Envelope(i, run_id, 0.0, body["type"], json.dumps(body)) for i, body in enumerate(bodies, 1)]


def chunks_of(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    projection = UIMessageProjection(RUN, "ui1")
    return [chunk for envelope in envelopes(*bodies) for chunk in projection.chunks(envelope)]


def test_the_echo_of_input_messages_is_left_out_and_steps_frame_the_output() -> None:
    chunks = chunks_of(
        {"type": "RUN_STARTED", "threadId": "t", "runId": RUN},
        {"type": "TEXT_MESSAGE_START", "messageId": "u1", "role": "user"},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": "u1", "delta": "hi"},
        {"type": "TEXT_MESSAGE_END", "messageId": "u1"},
        {"type": "TOOL_CALL_RESULT", "messageId": "c0.result", "toolCallId": "c0", "content": "earlier"},
        {"type": "TEXT_MESSAGE_START", "messageId": f"{RUN}.m0.1", "role": "assistant"},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": f"{RUN}.m0.1", "delta": "Hello"},
        {"type": "TEXT_MESSAGE_END", "messageId": f"{RUN}.m0.1"},
        {"type": "RUN_FINISHED", "threadId": "t", "runId": RUN},
    )
    assert chunks == [
        {"type": "start", "messageId": "ui1"},
        {"type": "start-step"},
        {"type": "text-start", "id": f"{RUN}.m0.1"},
        {"type": "text-delta", "id": f"{RUN}.m0.1", "delta": "Hello"},
        {"type": "text-end", "id": f"{RUN}.m0.1"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]


def test_state_and_custom_events_are_transient_data_and_a_run_error_is_an_error_chunk() -> None:
    chunks = chunks_of(
        {"type": "STATE_SNAPSHOT", "snapshot": {"n": 1}},
        {"type": "STATE_DELTA", "delta": [{"op": "replace", "path": "/n", "value": 2}]},
        {"type": "CUSTOM", "name": "app.progress", "value": 50},
        {"type": "RUN_ERROR", "message": "boom", "code": "model_error"},
    )
    assert chunks == [
        {"type": "data-state", "data": {"n": 1}, "transient": True},
        {"type": "data-state-delta", "data": [{"op": "replace", "path": "/n", "value": 2}], "transient": True},
        {"type": "data-custom", "data": {"name": "app.progress", "value": 50}, "transient": True},
        {"type": "error", "errorText": "boom"},
    ]


def test_pending_client_tool_calls_finish_with_the_tool_calls_reason() -> None:
    finished = {"type": "RUN_FINISHED", "threadId": "t", "runId": RUN, "outcome": {"type": "success"}}
    finished["outcome"]["pendingToolCallIds"] = ["c1"]
    assert chunks_of(finished) == [{"type": "finish", "finishReason": "tool-calls"}]


def test_a_call_waiting_for_approval_gets_a_tool_approval_request_and_its_later_result() -> None:
    interrupt = {"id": f"{RUN}.c1", "reason": "tool_call", "toolCallId": "c1"}
    finished = {"type": "RUN_FINISHED", "threadId": "t", "runId": RUN}
    finished["outcome"] = {"type": "interrupt", "interrupts": [interrupt]}
    chunks = chunks_of(
        {"type": "TOOL_CALL_START", "toolCallId": "c1", "toolCallName": "refund", "parentMessageId": f"{RUN}.m0.1"},
        {"type": "TOOL_CALL_END", "toolCallId": "c1"},
        finished,
    )
    assert chunks[-3:] == [
        {"type": "tool-approval-request", "approvalId": f"{RUN}.c1", "toolCallId": "c1"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]
    # The run that continues after the approval brings the call's result to the same message.
    resumed = UIMessageProjection("run2", RUN, continued_calls={"c1"})
    [result] = envelopes({"type": "TOOL_CALL_RESULT", "messageId": "c1.result", "toolCallId": "c1", "content": "ok"})
    assert resumed.chunks(Envelope(1, "run2", 0.0, result.type, result.data)) == [
        {"type": "tool-output-available", "toolCallId": "c1", "output": "ok"}
    ]


def test_events_of_another_run_are_ignored() -> None:
    projection = UIMessageProjection(RUN, "ui1")
    [other] = envelopes({"type": "RUN_STARTED", "threadId": "t", "runId": "run2"}, run_id="run2")
    assert projection.chunks(other) == []


STORED = [
    {"id": "u1", "role": "user", "content": "weather?"},
    {
        "id": f"{RUN}.m0.1",
        "role": "assistant",
        "content": "Let me look. ",
        "toolCalls": [{"id": "c1", "type": "function", "function": {"name": "confirm", "arguments": '{"a": 1}'}}],
    },
]


def test_tool_outputs_on_the_known_assistant_message_answer_the_pending_client_calls() -> None:
    client = to_ui_messages(STORED)
    tool_part = client[1]["parts"][2]
    tool_part.update(state="output-available", output={"ok": True})
    fresh = new_messages(client, STORED, server_tools=set())
    assert fresh == [{"id": "c1.result", "role": "tool", "toolCallId": "c1", "content": '{"ok": true}'}]
    # An answer to a server tool (not pending for the client) is not the client's to give.
    assert new_messages(client, STORED, server_tools={"confirm"}) == []


def test_an_output_error_answers_the_call_as_an_error_result() -> None:
    client = to_ui_messages(STORED)
    client[1]["parts"][2].update(state="output-error", errorText="The user closed the dialog.")
    [answer] = new_messages(client, STORED, server_tools=set())
    assert answer["error"] == answer["content"] == "The user closed the dialog."


def test_a_new_chat_seeded_with_an_assistant_turn_stores_it_step_by_step() -> None:
    history = [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]},
        {
            "id": "a1",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {"type": "text", "text": "Checking. "},
                {"type": "tool-lookup", "toolCallId": "c9", "state": "output-available", "input": {}, "output": "x"},
                {"type": "step-start"},
                {"type": "text", "text": "Done."},
            ],
        },
        {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "thanks"}]},
    ]
    assert [(m["id"], m["role"]) for m in new_messages(history, [], server_tools=set())] == [
        ("u1", "user"),
        ("a1.s0", "assistant"),
        ("c9.result", "tool"),
        ("a1.s2", "assistant"),
        ("u2", "user"),
    ]


def test_a_user_message_with_a_file_is_refused() -> None:
    message = {"id": "u1", "role": "user", "parts": [{"type": "file", "url": "data:,x", "mediaType": "text/plain"}]}
    with pytest.raises(InvalidRequest, match="only text"):
        new_messages([message], [], server_tools=set())


def test_an_earlier_share_of_a_message_is_replayed_without_tool_input_available() -> None:
    turn = to_ui_messages([*STORED, {"id": "c1.result", "role": "tool", "toolCallId": "c1", "content": "yes"}])[1]
    assert [c["type"] for c in turn_chunks(turn["parts"])] == [
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "tool-input-start",
        "tool-input-delta",
        "tool-output-available",
        "finish-step",
    ]
