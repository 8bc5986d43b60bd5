"""The event log's records: AG-UI events in a storage envelope.

An event body is an AG-UI event (from the `ag-ui-protocol` models) serialized once, as compact
camelCase JSON, when it is created. The store keeps it verbatim and the stream sends it verbatim,
so a body is never parsed again on the hot path.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    EventType,
    ReasoningEndEvent,
    ReasoningMessageEndEvent,
    TextMessageEndEvent,
    TokenUsage,
    ToolCallEndEvent,
)

TERMINAL_TYPES = frozenset({EventType.RUN_FINISHED.value, EventType.RUN_ERROR.value})
STEP_DISCARDED = "agentstream.step_discarded"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event not yet appended: its type and its serialized body."""

    type: str
    data: str

    @classmethod
    def of(cls, event: BaseEvent) -> NewEvent:
        if event.timestamp is None:
            event.timestamp = now_ms()
        return cls(event.type.value, event.model_dump_json(by_alias=True, exclude_none=True))

    def body(self) -> dict[str, Any]:
        return json.loads(self.data)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A committed event: its place in the thread's log, its run and when it was stored."""

    seq: int
    run_id: str
    ts: float
    type: str
    data: str

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def body(self) -> dict[str, Any]:
        return json.loads(self.data)  # type: ignore[no-any-return]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class OpenConstructs:
    """What a stream of events left open: text messages, tool calls, reasoning messages and spans.

    Used to close a step cut off mid-stream before it is redone, so every message a client saw
    started also ends.
    """

    messages: dict[str, None] = field(default_factory=dict)
    tool_calls: dict[str, None] = field(default_factory=dict)
    reasoning: dict[str, None] = field(default_factory=dict)
    reasoning_spans: dict[str, None] = field(default_factory=dict)

    def feed(self, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind == "TEXT_MESSAGE_START":
            self.messages[body["messageId"]] = None
        elif kind == "TEXT_MESSAGE_END":
            self.messages.pop(body["messageId"], None)
        elif kind == "TOOL_CALL_START":
            self.tool_calls[body["toolCallId"]] = None
        elif kind == "TOOL_CALL_END":
            self.tool_calls.pop(body["toolCallId"], None)
        elif kind == "REASONING_MESSAGE_START":
            self.reasoning[body["messageId"]] = None
        elif kind == "REASONING_MESSAGE_END":
            self.reasoning.pop(body["messageId"], None)
        elif kind == "REASONING_START":
            self.reasoning_spans[body["messageId"]] = None
        elif kind == "REASONING_END":
            self.reasoning_spans.pop(body["messageId"], None)

    def closing_events(self) -> list[NewEvent]:
        closing = [NewEvent.of(ToolCallEndEvent(tool_call_id=c)) for c in self.tool_calls]
        closing += [NewEvent.of(ReasoningMessageEndEvent(message_id=m)) for m in self.reasoning]
        closing += [NewEvent.of(ReasoningEndEvent(message_id=m)) for m in self.reasoning_spans]
        closing += [NewEvent.of(TextMessageEndEvent(message_id=m)) for m in self.messages]
        return closing


def step_discarded(step_id: str, attempt: int, message_ids: list[str], tool_call_ids: list[str]) -> NewEvent:
    """The marker telling clients to drop what an interrupted attempt of a step streamed."""
    return NewEvent.of(
        CustomEvent(
            name=STEP_DISCARDED,
            value={
                "stepId": step_id,
                "attempt": attempt,
                "messageIds": message_ids,
                "toolCallIds": tool_call_ids,
            },
        )
    )


def token_usage(usage: dict[str, int]) -> list[TokenUsage]:
    """A run's usage in its one public shape, on RUN_FINISHED and in thread status alike: AG-UI's
    list of TokenUsage entries (camelCase on the wire), here one entry with the run's totals."""
    input_tokens, output_tokens = usage.get("inputTokens", 0), usage.get("outputTokens", 0)
    return [
        TokenUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            # Reported only once a model gives them (the Responses API, some Chat Completions servers).
            reasoning_tokens=usage.get("reasoningTokens"),
            cached_input_tokens=usage.get("cachedInputTokens"),
        )
    ]
