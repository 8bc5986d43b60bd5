"""A run's events as the AI SDK's UI message stream (protocol v1: SSE `data: {json}` chunks, then `data: [DONE]`).

The run's output becomes one assistant UIMessage: `start` (its id), per model step `start-step` ..
`finish-step`, `text-*` and `reasoning-*` parts, `tool-input-start/delta/available` and
`tool-output-available` for each tool call, then `finish` (`finishReason` "tool-calls" when the
run left client-side tool calls for the client to answer), `abort` for a cancelled run or
`error` for a failed one. A step attempt that was cut off and redone is taken back with
`reset-step`. A tool call waiting for approval (an AG-UI interrupt) gets `tool-approval-request`.
State and custom events go out as transient `data-state`, `data-state-delta` and `data-custom`
chunks (they reach `onData` and stay out of the message). The run's echo of its
input messages is left out: the client sent them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ..config import get_settings
from ..log.events import STEP_DISCARDED, Envelope
from ..log.reader import ReadOptions, read_thread
from ..log.sse import comment_frame, data_frame
from ..log.tail import TailHub
from .messages import parse_arguments, step_of

DONE_FRAME = "data: [DONE]\n\n"
HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}

Chunk = dict[str, Any]


class UIMessageProjection:
    """Turns the envelopes of one run into UI message stream chunks."""

    def __init__(self, run_id: str, message_id: str, *, continued_calls: Iterable[str] = ()) -> None:
        """`message_id`: the UIMessage the run writes to (see `messages.turn_id`); `continued_calls`: the
        tool calls of that message made by earlier runs, whose results this run may bring (approved calls)."""
        self.run_id = run_id
        self.message_id = message_id
        self.ended = False
        self._step: str | None = None
        self._parts: set[str] = set()  # text and reasoning message ids this run's steps opened
        self._calls: dict[str, list[str]] = {}  # tool call id -> [name, arguments so far]
        self._continued = set(continued_calls)

    def chunks(self, envelope: Envelope) -> list[Chunk]:
        if envelope.run_id != self.run_id:
            return []
        kind = envelope.type
        if kind == "RUN_STARTED":
            return [{"type": "start", "messageId": self.message_id}]
        body = envelope.body()
        if kind in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START"):
            message_id = body["messageId"]
            if not self._is_own(message_id):
                return []  # the echo of an input message
            self._parts.add(message_id)
            prefix = "text" if kind == "TEXT_MESSAGE_START" else "reasoning"
            return [*self._enter_step(message_id), {"type": f"{prefix}-start", "id": message_id}]
        if kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "REASONING_MESSAGE_END"):
            if body["messageId"] not in self._parts:
                return []
            prefix = "text" if kind.startswith("TEXT") else "reasoning"
            if kind.endswith("_END"):
                return [{"type": f"{prefix}-end", "id": body["messageId"]}]
            return [{"type": f"{prefix}-delta", "id": body["messageId"], "delta": body["delta"]}]
        if kind.startswith("TOOL_CALL_"):
            return self._tool_chunks(kind, body)
        if kind == "CUSTOM":
            if body.get("name") == STEP_DISCARDED:
                return [{"type": "reset-step"}]
            return [_data("custom", {"name": body.get("name"), "value": body.get("value")})]
        if kind == "STATE_SNAPSHOT":
            return [_data("state", body.get("snapshot"))]
        if kind == "STATE_DELTA":
            return [_data("state-delta", body.get("delta"))]
        if kind == "RUN_FINISHED":
            self.ended = True
            outcome = body.get("outcome") or {}
            if outcome.get("type") == "cancelled":
                return [*self._leave_step(), {"type": "abort", "reason": "cancelled"}]
            reason = "tool-calls" if outcome.get("pendingToolCallIds") else "stop"
            approvals = [
                {"type": "tool-approval-request", "approvalId": interrupt["id"], "toolCallId": interrupt["toolCallId"]}
                for interrupt in outcome.get("interrupts") or ()
                if interrupt.get("toolCallId") in self._calls
            ]
            return [*approvals, *self._leave_step(), {"type": "finish", "finishReason": reason}]
        if kind == "RUN_ERROR":
            self.ended = True
            return [*self._leave_step(), {"type": "error", "errorText": body.get("message") or "The run failed."}]
        return []

    def _tool_chunks(self, kind: str, body: dict[str, Any]) -> list[Chunk]:
        call_id = body["toolCallId"]
        if kind == "TOOL_CALL_START":
            if not self._is_own(body.get("parentMessageId") or ""):
                return []
            self._calls[call_id] = [body["toolCallName"], ""]
            start = {"type": "tool-input-start", "toolCallId": call_id, "toolName": body["toolCallName"]}
            return [*self._enter_step(body["parentMessageId"]), start]
        call = self._calls.get(call_id)
        if call is None:
            if kind == "TOOL_CALL_RESULT" and call_id in self._continued:
                return [{"type": "tool-output-available", "toolCallId": call_id, "output": body["content"]}]
            return []  # the echo of a result in this run's input, or a call of another run
        if kind == "TOOL_CALL_ARGS":
            call[1] += body["delta"]
            return [{"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": body["delta"]}]
        if kind == "TOOL_CALL_END":
            return [
                {
                    "type": "tool-input-available",
                    "toolCallId": call_id,
                    "toolName": call[0],
                    "input": parse_arguments(call[1]),
                }
            ]
        if kind == "TOOL_CALL_RESULT":
            return [{"type": "tool-output-available", "toolCallId": call_id, "output": body["content"]}]
        return []

    def _is_own(self, message_id: str) -> bool:
        return message_id.startswith(f"{self.run_id}.m")

    def _enter_step(self, message_id: str) -> list[Chunk]:
        step = step_of(message_id)
        if step == self._step:
            return []
        chunks = self._leave_step()
        self._step = step
        return [*chunks, {"type": "start-step"}]

    def _leave_step(self) -> list[Chunk]:
        if self._step is None:
            return []
        self._step = None
        return [{"type": "finish-step"}]


def _data(name: str, data: Any) -> Chunk:
    return {"type": f"data-{name}", "data": data, "transient": True}


def chunk_frame(chunk: Chunk) -> str:
    return data_frame(json.dumps(chunk, ensure_ascii=False, separators=(",", ":")))


def turn_chunks(parts: Iterable[dict[str, Any]]) -> list[Chunk]:
    """Chunks that rebuild the parts of an earlier run's share of a UIMessage (see `messages.turn_parts`).

    Tool calls are sent as input deltas and outputs, never `tool-input-available`, so the client's
    `onToolCall` does not run a tool it answered before.
    """
    chunks: list[Chunk] = []
    in_step = False
    for index, part in enumerate(parts):
        kind = part["type"]
        if kind == "step-start":
            chunks += [{"type": "finish-step"}] if in_step else []
            chunks.append({"type": "start-step"})
            in_step = True
        elif kind in ("text", "reasoning"):
            part_id = part.get("id") or f"replay-{index}"
            chunks += [
                {"type": f"{kind}-start", "id": part_id},
                {"type": f"{kind}-delta", "id": part_id, "delta": part["text"]},
                {"type": f"{kind}-end", "id": part_id},
            ]
        else:
            call_id = part["toolCallId"]
            name = kind.removeprefix("tool-")
            chunks += [
                {"type": "tool-input-start", "toolCallId": call_id, "toolName": name},
                {"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": json.dumps(part["input"])},
            ]
            if part["state"] == "output-available":
                chunks.append({"type": "tool-output-available", "toolCallId": call_id, "output": part["output"]})
    return chunks + ([{"type": "finish-step"}] if in_step else [])


async def ui_message_frames(
    hub: TailHub, thread_id: str, projection: UIMessageProjection, *, after: int, prelude: list[Chunk]
) -> AsyncIterator[str]:
    """The run from `after` (exclusive) as SSE frames; `prelude` goes right after the `start` chunk.

    Ends with `[DONE]` once the run has ended; a response closed by plan (STREAM_MAX_SECONDS) ends
    without it, and the client resumes.
    """
    settings = get_settings()
    options = ReadOptions(
        after=after,
        run_id=projection.run_id,
        max_seconds=settings.stream_max_seconds,
        heartbeat=settings.stream_heartbeat_seconds,
    )
    async for batch in read_thread(hub, thread_id, options):
        if not batch:
            yield comment_frame("ping")
            continue
        frames: list[str] = []
        for envelope in batch:
            for chunk in projection.chunks(envelope):
                frames.append(chunk_frame(chunk))
                if chunk["type"] == "start":
                    frames += [chunk_frame(c) for c in prelude]
        if projection.ended:
            frames.append(DONE_FRAME)
        yield "".join(frames)
