"""The events a run opens with: RUN_STARTED, the thread's state, then the caller's messages.

A run started at once and a queued run opened when its turn comes write the same opening.
"""

from __future__ import annotations

from typing import Any

from ag_ui.core import (
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)

from ..log.events import NewEvent
from . import state
from .steps import tool_result_event


def opening_events(
    thread_id: str, run_id: str, opening_state: state.State | None, messages: list[dict[str, Any]]
) -> list[NewEvent]:
    events = [NewEvent.of(RunStartedEvent(thread_id=thread_id, run_id=run_id))]
    if opening_state is not None:
        events.append(state.snapshot_event(opening_state))
    for message in messages:
        events += message_events(message)
    return events


def message_events(message: dict[str, Any]) -> list[NewEvent]:
    if message["role"] == "tool":
        return [tool_result_event(message)]
    events: list[NewEvent] = []
    if message.get("content"):
        message_id = message["id"]
        events += [
            NewEvent.of(TextMessageStartEvent(message_id=message_id, role=message["role"])),
            NewEvent.of(TextMessageContentEvent(message_id=message_id, delta=message["content"])),
            NewEvent.of(TextMessageEndEvent(message_id=message_id)),
        ]
    for call in message.get("toolCalls", []):
        events.append(
            NewEvent.of(
                ToolCallStartEvent(
                    tool_call_id=call["id"], tool_call_name=call["function"]["name"], parent_message_id=message["id"]
                )
            )
        )
        if call["function"]["arguments"]:
            events.append(NewEvent.of(ToolCallArgsEvent(tool_call_id=call["id"], delta=call["function"]["arguments"])))
        events.append(NewEvent.of(ToolCallEndEvent(tool_call_id=call["id"])))
    return events
