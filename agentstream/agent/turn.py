"""Turns a model's chunks into AG-UI events and, at the end, the assistant message they add up to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import (
    ReasoningEncryptedValueEvent,
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

from ..log.events import NewEvent
from .llm.base import ITEM_ID, Chunk, EncryptedReasoning, ReasoningDelta, TextDelta, ToolCallDelta, Usage

_USAGE_KEYS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "reasoningTokens": "reasoning_tokens",
    "cachedInputTokens": "cached_input_tokens",
}


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Reasoning:
    id: str
    text: list[str] = field(default_factory=list)
    item_id: str | None = None
    encrypted: str | None = None


class AssistantTurn:
    def __init__(self, message_id: str, *, taken_call_ids: set[str] | None = None) -> None:
        """`taken_call_ids`: the tool call ids the thread already has; a model that repeats one (some
        compatible servers number calls from 0 every turn) or sends none gets a fresh id instead."""
        self.message_id = message_id
        self._taken_call_ids = taken_call_ids or set()
        self.reasoning_id = f"{message_id}.reasoning"
        self._text: list[str] = []
        self._text_open = False
        # One reasoning message per reasoning item of the turn, by the model's index, in order of appearance.
        self._reasoning: dict[int, _Reasoning] = {}
        self._reasoning_open: _Reasoning | None = None
        self._calls: dict[int, _ToolCall] = {}
        self.usage: dict[str, int] = {}

    def feed(self, chunk: Chunk) -> list[NewEvent]:
        if isinstance(chunk, TextDelta):
            return self._text_delta(chunk.text)
        if isinstance(chunk, ReasoningDelta):
            return self._reasoning_delta(chunk)
        if isinstance(chunk, EncryptedReasoning):
            reasoning = self._reasoning_item(chunk.index)
            reasoning.item_id, reasoning.encrypted = chunk.item_id, chunk.value
            return []
        if isinstance(chunk, ToolCallDelta):
            return self._tool_call_delta(chunk)
        if isinstance(chunk, Usage):
            for key, attribute in _USAGE_KEYS.items():
                # Reasoning and cached tokens only appear once a model reports some.
                if value := getattr(chunk, attribute):
                    self.usage[key] = self.usage.get(key, 0) + value
                elif key in ("inputTokens", "outputTokens"):
                    self.usage.setdefault(key, 0)
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

    def _reasoning_item(self, index: int) -> _Reasoning:
        reasoning = self._reasoning.get(index)
        if reasoning is None:
            count = len(self._reasoning)
            reasoning = self._reasoning[index] = _Reasoning(
                f"{self.reasoning_id}{count}" if count else self.reasoning_id
            )
        return reasoning

    def _reasoning_delta(self, delta: ReasoningDelta) -> list[NewEvent]:
        if not delta.text:
            return []
        reasoning = self._reasoning_item(delta.index)
        events = []
        if self._reasoning_open is not reasoning:
            events = self._close_reasoning()
            self._reasoning_open = reasoning
            events.append(NewEvent.of(ReasoningStartEvent(message_id=reasoning.id)))
            events.append(NewEvent.of(ReasoningMessageStartEvent(message_id=reasoning.id, role="reasoning")))
        reasoning.text.append(delta.text)
        events.append(NewEvent.of(ReasoningMessageContentEvent(message_id=reasoning.id, delta=delta.text)))
        return events

    def _close_reasoning(self) -> list[NewEvent]:
        if self._reasoning_open is None:
            return []
        message_id = self._reasoning_open.id
        self._reasoning_open = None
        return [
            NewEvent.of(ReasoningMessageEndEvent(message_id=message_id)),
            NewEvent.of(ReasoningEndEvent(message_id=message_id)),
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
        events += [
            NewEvent.of(ReasoningEncryptedValueEvent(subtype="message", entity_id=r.id, encrypted_value=r.encrypted))
            for r in self._reasoning.values()
            if r.encrypted is not None
        ]
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

    @property
    def text(self) -> str:
        return "".join(self._text)

    def messages(self) -> list[dict[str, Any]]:
        """The committed conversation entries of this turn: reasoning (if any), then the assistant message."""
        messages: list[dict[str, Any]] = []
        for reasoning in self._reasoning.values():
            message: dict[str, Any] = {"id": reasoning.id, "role": "reasoning", "content": "".join(reasoning.text)}
            if reasoning.encrypted is not None:
                # Sent back to the model on the next call; clients get it as an opaque value, never as text.
                message["encryptedValue"] = reasoning.encrypted
                message["metadata"] = {ITEM_ID: reasoning.item_id}
            messages.append(message)
        assistant: dict[str, Any] = {"id": self.message_id, "role": "assistant"}
        if self._text:
            assistant["content"] = "".join(self._text)
        if self._calls:
            assistant["toolCalls"] = self.tool_calls
        if self._text or self._calls:
            messages.append(assistant)
        return messages
