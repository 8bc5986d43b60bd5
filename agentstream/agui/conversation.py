"""A conversation rebuilt from AG-UI events, the way an AG-UI client builds it.

It starts from messages already held (the thread's committed conversation) and applies each event
of a run: text, reasoning and tool-call deltas grow their messages, tool results add tool messages,
and a discarded step attempt removes what it streamed. At any point it can say what is finished
(for a MESSAGES_SNAPSHOT) and re-open what is still streaming, so a client that joins mid-run ends
up with exactly what a client that watched from the start has.
"""

from __future__ import annotations

import copy
from typing import Any

from ag_ui.core import (
    MessagesSnapshotEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    TextMessageContentEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)

from ..log.events import STEP_DISCARDED, NewEvent


class Conversation:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self._messages: list[dict[str, Any]] = copy.deepcopy(messages)
        self._open_messages: set[str] = set()
        self._open_calls: set[str] = set()
        self._open_spans: dict[str, None] = {}  # REASONING_START..REASONING_END, in the order opened

    def apply(self, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START"):
            message_id = body["messageId"]
            if self._find(message_id) is None:
                role = body.get("role") or ("reasoning" if kind == "REASONING_MESSAGE_START" else "assistant")
                self._messages.append({"id": message_id, "role": role, "content": ""})
            self._open_messages.add(message_id)
        elif kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            message = self._find(body["messageId"])
            if message is not None:
                message["content"] = (message.get("content") or "") + body["delta"]
        elif kind in ("TEXT_MESSAGE_END", "REASONING_MESSAGE_END"):
            self._open_messages.discard(body["messageId"])
        elif kind == "REASONING_START":
            self._open_spans[body["messageId"]] = None
        elif kind == "REASONING_END":
            self._open_spans.pop(body["messageId"], None)
        elif kind == "TOOL_CALL_START":
            self._start_call(body)
        elif kind == "TOOL_CALL_ARGS":
            call = self._find_call(body["toolCallId"])
            if call is not None:
                call["function"]["arguments"] += body["delta"]
        elif kind == "TOOL_CALL_END":
            self._open_calls.discard(body["toolCallId"])
        elif kind == "TOOL_CALL_RESULT":
            if self._find(body["messageId"]) is None:
                self._messages.append(
                    {
                        "id": body["messageId"],
                        "role": "tool",
                        "toolCallId": body["toolCallId"],
                        "content": body["content"],
                    }
                )
        elif kind == "CUSTOM" and body.get("name") == STEP_DISCARDED:
            self._discard(set(body["value"]["messageIds"]), set(body["value"]["toolCallIds"]))

    def _find(self, message_id: str) -> dict[str, Any] | None:
        return next((m for m in self._messages if m["id"] == message_id), None)

    def _find_call(self, tool_call_id: str) -> dict[str, Any] | None:
        for message in self._messages:
            for call in message.get("toolCalls") or ():
                if call["id"] == tool_call_id:
                    return call  # type: ignore[no-any-return]
        return None

    def _start_call(self, body: dict[str, Any]) -> None:
        call_id = body["toolCallId"]
        self._open_calls.add(call_id)
        if self._find_call(call_id) is not None:
            return
        parent_id = body.get("parentMessageId") or call_id
        parent = self._find(parent_id)
        if parent is None or parent["role"] != "assistant":
            parent = {"id": parent_id if parent is None else call_id, "role": "assistant"}
            self._messages.append(parent)
        parent.setdefault("toolCalls", []).append(
            {"id": call_id, "type": "function", "function": {"name": body["toolCallName"], "arguments": ""}}
        )

    def _discard(self, message_ids: set[str], tool_call_ids: set[str]) -> None:
        kept = []
        for message in self._messages:
            if message["id"] in message_ids:
                continue
            if message.get("toolCalls"):
                message["toolCalls"] = [c for c in message["toolCalls"] if c["id"] not in tool_call_ids]
                if not message["toolCalls"]:
                    del message["toolCalls"]
                    if not message.get("content"):
                        continue
            kept.append(message)
        self._messages = kept
        self._open_messages -= message_ids
        self._open_calls -= tool_call_ids
        for message_id in message_ids:
            self._open_spans.pop(message_id, None)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._messages)

    def snapshot(self) -> NewEvent:
        """MESSAGES_SNAPSHOT of everything finished: open messages and open tool calls left out."""
        finished = []
        for message in self._messages:
            if message["id"] in self._open_messages:
                continue
            message = copy.deepcopy(message)
            if message.get("toolCalls"):
                message["toolCalls"] = [c for c in message["toolCalls"] if c["id"] not in self._open_calls]
                if not message["toolCalls"]:
                    del message["toolCalls"]
            finished.append(message)
        return NewEvent.of(MessagesSnapshotEvent.model_validate({"messages": finished}))

    def reopen(self) -> list[NewEvent]:
        """START events (and the content so far) for what `snapshot()` left out, in conversation order,
        after the reasoning spans still open."""
        events = [NewEvent.of(ReasoningStartEvent(message_id=span)) for span in self._open_spans]
        for message in self._messages:
            is_open = message["id"] in self._open_messages
            if is_open and message["role"] == "reasoning":
                events.append(NewEvent.of(ReasoningMessageStartEvent(message_id=message["id"], role="reasoning")))
                if message["content"]:
                    events.append(
                        NewEvent.of(ReasoningMessageContentEvent(message_id=message["id"], delta=message["content"]))
                    )
                continue
            if is_open:
                events.append(NewEvent.of(TextMessageStartEvent(message_id=message["id"], role=message["role"])))
                if message.get("content"):
                    events.append(
                        NewEvent.of(TextMessageContentEvent(message_id=message["id"], delta=message["content"]))
                    )
            for call in message.get("toolCalls") or ():
                if is_open or call["id"] in self._open_calls:
                    events += _replay_call(message["id"], call, closed=call["id"] not in self._open_calls)
        return events


def _replay_call(parent_id: str, call: dict[str, Any], *, closed: bool) -> list[NewEvent]:
    function = call["function"]
    events = [
        NewEvent.of(
            ToolCallStartEvent(tool_call_id=call["id"], tool_call_name=function["name"], parent_message_id=parent_id)
        )
    ]
    if function["arguments"]:
        events.append(NewEvent.of(ToolCallArgsEvent(tool_call_id=call["id"], delta=function["arguments"])))
    if closed:
        events.append(NewEvent.of(ToolCallEndEvent(tool_call_id=call["id"])))
    return events
