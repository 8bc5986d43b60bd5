"""Reconciling the messages an AG-UI client sends with the conversation the thread already holds.

AG-UI clients send their whole message list with every run (`HttpAgent` does); some send only what
is new (Agent Framework's `AGUIChatClient`). The thread's stored conversation is the truth, so:

- a message whose id the thread already holds is never stored again, whatever its content; nor is
  one the running run is still streaming (a client reconnecting sends what it got so far);
- the new messages are the ones after the last message the thread knows (all of them when it
  knows none, e.g. a new thread seeded with a history);
- `activity` and `reasoning` messages are the client's views, not conversation: they are skipped.

What is new must end with a user or tool message, something for the agent to answer.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from ag_ui.core import AssistantMessage, Message, TextPart, ToolMessage

from ..exceptions import InvalidRequest

CLIENT_VIEW_ROLES = frozenset({"activity", "reasoning"})


def new_messages(
    client_messages: list[Message], stored: list[dict[str, Any]], streaming: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The client's messages the thread does not hold yet, in the stored (camelCase dict) shape.

    `streaming` holds the ids of the messages the thread's running run has started.
    """
    known = {message["id"] for message in stored} | streaming
    last_known = max((i for i, m in enumerate(client_messages) if m.id in known), default=-1)
    fresh = [to_stored(m) for m in client_messages[last_known + 1 :] if m.role not in CLIENT_VIEW_ROLES]
    ids = [m["id"] for m in fresh]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("Two new messages share one id: message ids must be unique.", code="duplicate_message_id")
    if fresh and fresh[-1]["role"] not in ("user", "tool"):
        raise InvalidRequest(
            f"The last new message is from '{fresh[-1]['role']}': end with a user or tool message.",
            code="invalid_messages",
        )
    return fresh


def pending_tool_calls(messages: list[dict[str, Any]], server_tools: Container[str]) -> list[str]:
    """Ids of the client-side tool calls in `messages` that no tool message answers, in the order
    they were made."""
    answered = {m["toolCallId"] for m in messages if m["role"] == "tool"}
    return [
        call["id"]
        for message in messages
        if message["role"] == "assistant"
        for call in message.get("toolCalls") or ()
        if call["id"] not in answered and call["function"]["name"] not in server_tools
    ]


def to_stored(message: Message) -> dict[str, Any]:
    stored: dict[str, Any] = {"id": message.id, "role": message.role}
    if isinstance(message, AssistantMessage):
        if message.content:
            stored["content"] = message.content
        if message.tool_calls:
            stored["toolCalls"] = [
                call.model_dump(by_alias=True, include={"id", "type", "function"}) for call in message.tool_calls
            ]
        if len(stored) == 2:
            raise InvalidRequest(f"Assistant message '{message.id}' has neither content nor tool calls.")
        return stored
    content = _text(message.id, message.content)
    if isinstance(message, ToolMessage):
        stored["toolCallId"] = message.tool_call_id
        if message.error is not None:
            stored["error"] = message.error
    elif not content.strip():
        raise InvalidRequest(f"Message '{message.id}' is empty.", code="invalid_messages")
    stored["content"] = content
    return stored


def _text(message_id: str, content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = list(content)
    if not all(isinstance(part, TextPart) for part in parts):
        kinds = sorted({getattr(part, "type", "?") for part in parts if not isinstance(part, TextPart)})
        raise InvalidRequest(
            f"Message '{message_id}' has {', '.join(kinds)} content: only text is supported.",
            code="unsupported_content",
        )
    return "".join(part.text for part in parts)
