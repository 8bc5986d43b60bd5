"""Turns a model's chunks into AG-UI events and, at the end, the assistant message they add up to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import (
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)

from .events import NewEvent
from .llm.base import Chunk, ReasoningDelta, TextDelta, ToolCallDelta, Usage


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class AssistantTurn:
    def __init__(self, message_id: str, *, taken_call_ids: set[str] | None = None) -> None:
        """`taken_call_ids`: the tool call ids the thread already has; a model that repeats one (some
        compatible servers number calls from 0 every turn) or sends none gets a fresh id instead."""
        self.message_id = message_id
        self._taken_call_ids = taken_call_ids or set()
        self.reasoning_id = f"{message_id}.reasoning"
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._text_open = False
        self._reasoning_open = False
        self._calls: dict[int, _ToolCall] = {}
        self.usage: dict[str, int] = {}

    def feed(self, chunk: Chunk) -> list[NewEvent]:
        if isinstance(chunk, TextDelta):
            return self._text_delta(chunk.text)
        if isinstance(chunk, ReasoningDelta):
            return self._reasoning_delta(chunk.text)
        if isinstance(chunk, ToolCallDelta):
            return self._tool_call_delta(chunk)
        if isinstance(chunk, Usage):
            self.usage["inputTokens"] = self.usage.get("inputTokens", 0) + chunk.input_tokens
            self.usage["outputTokens"] = self.usage.get("outputTokens", 0) + chunk.output_tokens
        return []

    def _text_delta(self, text: str) -> list[NewEvent]:
        if not text:
            return []
        events = self._close_reasoning()
        if not self._text_open:
            self._text_open = True
            events.append(NewEvent.of(TextMessageStartEvent(message_id=self.message_id, role="assistant")))
        self._text.append(text)
        events.append(NewEvent.of(TextMessageContentEvent(message_id=self.message_id, delta=text)))
        return events

    def _reasoning_delta(self, text: str) -> list[NewEvent]:
        if not text:
            return []
        events = []
        if not self._reasoning_open:
            self._reasoning_open = True
            events.append(NewEvent.of(ReasoningStartEvent(message_id=self.reasoning_id)))
            events.append(NewEvent.of(ReasoningMessageStartEvent(message_id=self.reasoning_id, role="reasoning")))
        self._reasoning.append(text)
        events.append(NewEvent.of(ReasoningMessageContentEvent(message_id=self.reasoning_id, delta=text)))
        return events

    def _close_reasoning(self) -> list[NewEvent]:
        if not self._reasoning_open:
            return []
        self._reasoning_open = False
        return [
            NewEvent.of(ReasoningMessageEndEvent(message_id=self.reasoning_id)),
            NewEvent.of(ReasoningEndEvent(message_id=self.reasoning_id)),
        ]

    def _tool_call_delta(self, delta: ToolCallDelta) -> list[NewEvent]:
        events = self._close_reasoning()
        call = self._calls.get(delta.index)
        if call is None:
            if not delta.name:
                raise ValueError(f"Tool call {delta.index} started without a name.")
            call_id = delta.id
            if not call_id or call_id in self._taken_call_ids or call_id in {c.id for c in self._calls.values()}:
                call_id = f"{self.message_id}.call{delta.index}"
            call = self._calls[delta.index] = _ToolCall(call_id, delta.name)
            events.append(
                NewEvent.of(
                    ToolCallStartEvent(
                        tool_call_id=call.id, tool_call_name=call.name, parent_message_id=self.message_id
                    )
                )
            )
        if delta.arguments:
            call.arguments.append(delta.arguments)
            events.append(NewEvent.of(ToolCallArgsEvent(tool_call_id=call.id, delta=delta.arguments)))
        return events

    def finish(self) -> list[NewEvent]:
        """The events closing everything still open, in the order clients expect."""
        events = self._close_reasoning()
        events += [NewEvent.of(ToolCallEndEvent(tool_call_id=call.id)) for call in self._calls.values()]
        if self._text_open:
            self._text_open = False
            events.append(NewEvent.of(TextMessageEndEvent(message_id=self.message_id)))
        return events

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": "".join(c.arguments)}}
            for c in self._calls.values()
        ]

    def messages(self) -> list[dict[str, Any]]:
        """The committed conversation entries of this turn: reasoning (if any), then the assistant message."""
        messages: list[dict[str, Any]] = []
        if self._reasoning:
            messages.append({"id": self.reasoning_id, "role": "reasoning", "content": "".join(self._reasoning)})
        assistant: dict[str, Any] = {"id": self.message_id, "role": "assistant"}
        if self._text:
            assistant["content"] = "".join(self._text)
        if self._calls:
            assistant["toolCalls"] = self.tool_calls
        if self._text or self._calls:
            messages.append(assistant)
        return messages
