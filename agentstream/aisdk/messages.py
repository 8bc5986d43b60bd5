"""The thread's conversation as the AI SDK's UIMessages, and the new input in a chat request.

One assistant UIMessage holds everything the agent did between two user messages: each model
step's reasoning, text and tool calls (a `step-start` part before each step), with the tool
results in the tool parts. That may span runs: after the client answers its own tool calls, the
next run continues the same UIMessage, as the AI SDK does. Its id is the run id of the run that
started it, so a replay of the run (resume) lands on the same message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from typing import Any

from ..agent.steps import tool_message
from ..agui.messages import pending_tool_calls
from ..exceptions import InvalidRequest

_MODEL_STEP_ID = re.compile(r"^(?P<run>.+?)\.m(?P<index>\d+)(?:\.|$)")
ANSWER_STATES = ("output-available", "output-error")


def run_of(message_id: str) -> str | None:
    """The run whose model step wrote this assistant (or reasoning) message, when one did."""
    match = _MODEL_STEP_ID.match(message_id)
    return match.group("run") if match else None


def step_of(message_id: str) -> str:
    """A key telling the model steps apart: messages of one step share it."""
    match = _MODEL_STEP_ID.match(message_id)
    return f"{match.group('run')}.m{match.group('index')}" if match else message_id


def trailing_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's messages after the last user (or system) message."""
    start = len(messages)
    while start > 0 and messages[start - 1]["role"] in ("assistant", "tool", "reasoning"):
        start -= 1
    return messages[start:]


def turn_id(turn: list[dict[str, Any]]) -> str:
    """The UIMessage id of an agent turn: the run that began it, else its first message's id."""
    for message in turn:
        if message["role"] in ("assistant", "reasoning"):
            return run_of(message["id"]) or message["id"]
    return str(turn[0]["id"])


def to_ui_messages(messages: list[dict[str, Any]], approvals: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Stored (AG-UI) messages as UIMessages, shaped as the AI SDK assembles them from the stream.

    `approvals` maps the tool calls waiting for approval to their interrupt ids.
    """
    ui: list[dict[str, Any]] = []
    turn: list[dict[str, Any]] = []
    for message in [*messages, None]:
        if message is not None and message["role"] in ("assistant", "tool", "reasoning"):
            turn.append(message)
            continue
        if turn:
            ui.append({"id": turn_id(turn), "role": "assistant", "parts": turn_parts(turn, approvals or {})})
            turn = []
        if message is not None:
            text = {"type": "text", "text": message.get("content") or ""}
            ui.append({"id": message["id"], "role": message["role"], "parts": [text]})
    return ui


def text_part(text: Any) -> dict[str, Any]:
    return {"type": "text", "text": text if isinstance(text, str) else "", "state": "done"}


def turn_parts(turn: list[dict[str, Any]], approvals: dict[str, str] | None = None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    results = {m["toolCallId"]: m for m in turn if m["role"] == "tool"}
    step = None
    for message in turn:
        if message["role"] == "tool":
            continue
        if step_of(message["id"]) != step:
            step = step_of(message["id"])
            parts.append({"type": "step-start"})
        if message["role"] == "reasoning":
            parts.append(
                {"type": "reasoning", "id": message["id"], "text": message.get("content") or "", "state": "done"}
            )
            continue
        if message.get("content"):
            parts.append(text_part(message["content"]))
        for call in message.get("toolCalls") or ():
            parts.append(tool_part(call, results.get(call["id"]), (approvals or {}).get(call["id"])))
    return parts


def tool_part(call: dict[str, Any], result: dict[str, Any] | None, approval: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {
        "type": f"tool-{call['function']['name']}",
        "toolCallId": call["id"],
        "state": "input-available",
        "input": parse_arguments(call["function"]["arguments"]),
    }
    if result is not None:
        part.update(state="output-available", output=result["content"])
    elif approval is not None:
        part.update(state="approval-requested", approval={"id": approval})
    return part


def turn_calls(turn: list[dict[str, Any]]) -> set[str]:
    return {call["id"] for message in turn for call in message.get("toolCalls") or ()}


def approval_answers(client_messages: list[dict[str, Any]], waiting: Container[str]) -> list[dict[str, Any]]:
    """`resume` entries for the approvals the client gave (`addToolApprovalResponse`) to `waiting` interrupts."""
    answers = []
    for message in client_messages[-1:]:
        for part in message["parts"] if message["role"] == "assistant" else ():
            approval = part.get("approval")
            if part.get("state") != "approval-responded" or not isinstance(approval, dict):
                continue
            if isinstance(approval.get("id"), str) and approval["id"] in waiting:
                payload = {"approved": approval.get("approved") is True}
                answers.append({"interruptId": approval["id"], "status": "resolved", "payload": payload})
    return answers


def parse_arguments(arguments: str) -> Any:
    """Tool arguments as the AI SDK shows them: the JSON value, or the raw text when it is not JSON."""
    try:
        return json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return arguments


def new_messages(
    client_messages: list[dict[str, Any]], stored: list[dict[str, Any]], server_tools: Container[str]
) -> list[dict[str, Any]]:
    """What a chat request adds to the thread, as stored (AG-UI) messages.

    The thread's conversation is the truth: the client's messages up to the last one the thread
    knows (by message id, or by UIMessage id for agent turns) are not stored again. Tool parts of
    that last known message that now carry outputs answer the thread's pending client-side tool
    calls (`addToolOutput`); the messages after it are new.
    """
    known = {m["id"] for m in stored} | {m["id"] for m in to_ui_messages(stored)}
    last_known = max((i for i, m in enumerate(client_messages) if m["id"] in known), default=-1)
    fresh: list[dict[str, Any]] = []
    if last_known >= 0 and client_messages[last_known]["role"] == "assistant":
        pending = set(pending_tool_calls(stored, server_tools))
        for part in client_messages[last_known]["parts"]:
            if _is_tool_part(part) and _call_id(part) in pending and part.get("state") in ANSWER_STATES:
                fresh.append(_answer(part))
    for message in client_messages[last_known + 1 :]:
        fresh += from_ui_message(message)
    ids = [m["id"] for m in fresh]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("Two new messages share one id: message ids must be unique.", code="duplicate_message_id")
    return fresh


def from_ui_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One client UIMessage as stored messages: an assistant message per step, then its tool results."""
    message_id, role = message["id"], message["role"]
    if role != "assistant":
        return [{"id": message_id, "role": role, "content": _user_text(message)}]
    stored: list[dict[str, Any]] = []
    step: dict[str, Any] | None = None
    answers: list[dict[str, Any]] = []
    for part in message["parts"]:
        kind = part.get("type")
        if kind == "step-start" or step is None:
            stored += answers
            answers = []
            step = {"id": f"{message_id}.s{len(stored)}", "role": "assistant"}
            stored.append(step)
        if kind == "text" and isinstance(part.get("text"), str):
            step["content"] = step.get("content", "") + part["text"]
        elif _is_tool_part(part):
            name = part.get("toolName") if kind == "dynamic-tool" else str(kind).removeprefix("tool-")
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"A tool part of message '{message_id}' names no tool.", code="invalid_messages")
            arguments = json.dumps(part.get("input") or {}, ensure_ascii=False)
            call = {"id": _call_id(part), "type": "function", "function": {"name": name, "arguments": arguments}}
            step.setdefault("toolCalls", []).append(call)
            if part.get("state") in ANSWER_STATES:
                answers.append(_answer(part))
    stored += answers
    return [m for m in stored if m["role"] != "assistant" or m.get("content") or m.get("toolCalls")]


def _is_tool_part(part: dict[str, Any]) -> bool:
    kind = str(part.get("type", ""))
    return kind == "dynamic-tool" or kind.startswith("tool-")


def _call_id(part: dict[str, Any]) -> str:
    call_id = part.get("toolCallId")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest("A tool part has no 'toolCallId' string.", code="invalid_messages")
    return call_id


def _answer(part: dict[str, Any]) -> dict[str, Any]:
    if part["state"] == "output-error":
        error = str(part.get("errorText") or "error")
        return tool_message(_call_id(part), error, error=error)
    output = part.get("output")
    return tool_message(_call_id(part), output if isinstance(output, str) else json.dumps(output))


def _user_text(message: dict[str, Any]) -> str:
    texts: list[str] = []
    for part in message["parts"]:
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind != "step-start" and not str(kind).startswith("data-"):
            raise InvalidRequest(
                f"Message '{message['id']}' has a '{kind}' part: only text is supported.", code="unsupported_content"
            )
    return "".join(texts)
