"""What a run's handle knows, whichever client reads it: shared by `Run` and `AsyncRun`.

`BaseRun` follows the events as they are read (roles, tool calls, discarded steps, the terminal
event), says which client-side tool call is due, and assembles the `RunResult`. Reading the
stream and talking to the server is left to the subclasses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import TypeAdapter

from ._cursor import TERMINAL_TYPES
from .errors import APIStatusError, ConflictError, NoOutputError, NotFoundError
from .events import StreamEvent
from .interrupts import Interrupt
from .tools import ClientTool

logger = logging.getLogger("agentstream_client.run")

T = TypeVar("T")

STEP_DISCARDED = "agentstream.step_discarded"
# Answers that lost a race, not failures: the call was answered already, the run ended (or was
# cancelled) meanwhile, or the call belonged to a step attempt that was discarded.
_STALE_ANSWER_CODES = frozenset({"tool_call_answered", "run_not_waiting", "tool_call_not_found"})


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """How a run ended.

    `outcome` is "success", "cancelled", "interrupt" (tool calls wait for a person: see
    `interrupts`) or "error" (then `error` holds the server's code and message). `text` is the
    run's assistant text, one line per message, without what discarded step attempts streamed.
    `messages` is the thread's whole conversation after the run, as the server committed it.
    `usage` is the run's token usage, its entries added up into one TokenUsage shape
    (`inputTokens`, `outputTokens`, `totalTokens`). `output` is the structured result of an agent
    with an output type, as JSON (None otherwise).
    """

    thread_id: str
    run_id: str
    outcome: str
    text: str
    messages: list[dict[str, Any]] = field(repr=False)
    usage: dict[str, int]
    error: dict[str, str] | None = None
    interrupts: list[Interrupt] = field(default_factory=list)
    """With outcome "interrupt": the tool calls waiting for a decision; resume with `client.run(resume=...)`."""
    output: Any = None

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    def typed_output(self, output_type: type[T]) -> T:
        """The structured result as `output_type`; NoOutputError if the run gave none."""
        if not self.ok or self.output is None:
            raise NoOutputError(self)
        return TypeAdapter(output_type).validate_python(self.output)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A finished call to one of the run's client-side tools, ready for its handler."""

    id: str
    tool: ClientTool
    arguments: str


class BaseRun:
    """The state both run handles keep: `events` read so far, `run_id`, `terminal`, timings, tool answers."""

    def __init__(
        self,
        *,
        thread_id: str,
        run_id: str | None,
        started_at: float | None,
        tools: Sequence[ClientTool],
        stream_token: str | None,
    ) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.started_at = time.monotonic() if started_at is None else started_at
        self.first_token_at: float | None = None
        self.finished_at: float | None = None
        self.terminal: StreamEvent | None = None
        self.events: list[StreamEvent] = []
        self.discarded_ids: set[str] = set()
        self.tool_answers: list[dict[str, Any]] = []
        self.tools = {tool.name: tool for tool in tools}
        self.stream_token = stream_token
        self._calls: dict[str, tuple[str, list[str]]] = {}
        self._roles: dict[str, str] = {}
        #: What ended the one read of the stream, raised again to every view that reads on.
        self._failure: Exception | None = None

    @property
    def done(self) -> bool:
        return self.terminal is not None

    def is_assistant_message(self, message_id: str) -> bool:
        return self._roles.get(message_id, "assistant") == "assistant"

    def text_delta(self, event: StreamEvent) -> str | None:
        """The assistant text an event adds, if it adds any."""
        if event.type == "TEXT_MESSAGE_CONTENT" and self.is_assistant_message(event.body["messageId"]):
            return str(event.body["delta"])
        return None

    def text_pieces(self) -> TextPieces:
        """For one reader of the text: each delta, with a line break where a new message begins."""
        return TextPieces(self)

    @property
    def interrupts(self) -> list[Interrupt]:
        """The tool calls the run stopped for (read so far), each with its name and arguments."""
        terminal = self.terminal.body if self.terminal is not None else {}
        outcome = terminal.get("outcome") or {}
        if outcome.get("type") != "interrupt":
            return []
        calls = {call_id: (name, "".join(parts)) for call_id, (name, parts) in self._calls.items()}
        return [Interrupt.from_event(body, calls) for body in outcome.get("interrupts", [])]

    @staticmethod
    def reasoning_delta(event: StreamEvent) -> str | None:
        """The reasoning text an event adds, if it adds any."""
        return str(event.body["delta"]) if event.type == "REASONING_MESSAGE_CONTENT" else None

    def _observe(self, event: StreamEvent) -> ToolCall | None:
        """Take in the next event; returns the client-side tool call it completes, if any."""
        self.events.append(event)
        body = event.body
        kind = event.type
        if kind == "RUN_STARTED":
            # A thread's stream may hold several runs: the handle follows the latest.
            self.run_id = str(body["runId"])
            self.terminal = None
        elif kind == "TEXT_MESSAGE_START":
            self._roles[body["messageId"]] = body.get("role") or "assistant"
        elif self.first_token_at is None and (
            self.text_delta(event) is not None or self.reasoning_delta(event) is not None
        ):
            self.first_token_at = time.monotonic()
            self._on_first_token()
        elif kind == "TOOL_CALL_START":
            self._calls[body["toolCallId"]] = (str(body["toolCallName"]), [])
        elif kind == "TOOL_CALL_ARGS" and body["toolCallId"] in self._calls:
            self._calls[body["toolCallId"]][1].append(str(body["delta"]))
        elif kind == "TOOL_CALL_END" and body["toolCallId"] in self._calls:
            name, arguments = self._calls[body["toolCallId"]]
            tool = self.tools.get(name)
            if tool is not None and self.run_id is not None:
                return ToolCall(body["toolCallId"], tool, "".join(arguments))
        elif kind == "CUSTOM" and body.get("name") == STEP_DISCARDED:
            value = body.get("value") or {}
            self.discarded_ids.update(value.get("messageIds", []))
            self.discarded_ids.update(value.get("toolCallIds", []))
        elif kind in TERMINAL_TYPES:
            self.terminal = event
            self.finished_at = time.monotonic()
        return None

    def _on_first_token(self) -> None:
        """Called once, on the first text or reasoning delta."""

    def _on_exhausted(self) -> None:
        self.finished_at = self.finished_at or time.monotonic()

    def _record_answer(self, call: ToolCall, answer: dict[str, Any], refused: APIStatusError | None) -> None:
        """Keep an answer the server took; a refusal that only lost a race is logged, any other raised."""
        if refused is None:
            self.tool_answers.append(answer)
            return
        if not isinstance(refused, ConflictError | NotFoundError) or refused.code not in _STALE_ANSWER_CODES:
            raise refused
        logger.info("The answer to tool call %s was not taken: %s", call.id, refused)

    def _result_from(self, status: dict[str, Any]) -> RunResult:
        """The result, from the thread's status as the server gives it after the run."""
        runs = status.get("runs", [])
        if self.run_id is None and runs:
            self.run_id = str(runs[-1]["run_id"])
        run: dict[str, Any] = next((r for r in runs if r["run_id"] == self.run_id), {})
        outcome, error = self._outcome(run)
        return RunResult(
            thread_id=self.thread_id,
            run_id=self.run_id or "",
            outcome=outcome,
            text=self._assistant_text(),
            messages=list(status.get("messages", [])),
            usage=_sum_usage(run.get("usage") or (self.terminal.body.get("usage") if self.terminal else None)),
            error=error,
            interrupts=self.interrupts,
            output=run.get("result", self.terminal.body.get("result") if self.terminal is not None else None),
        )

    def _outcome(self, run: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
        terminal = self.terminal.body if self.terminal is not None else None
        if terminal is not None and terminal["type"] == "RUN_ERROR":
            return "error", {"code": str(terminal.get("code", "")), "message": str(terminal.get("message", ""))}
        if terminal is not None:
            return str((terminal.get("outcome") or {}).get("type", "success")), None
        status = run.get("status")
        named = {"succeeded": "success", "failed": "error", "cancelled": "cancelled"}
        return named.get(str(status), str(status or "unknown")), run.get("error")

    def _assistant_text(self) -> str:
        texts: dict[str, str] = {}
        current: str | None = None
        for event in self.events:
            if event.type == "RUN_STARTED":
                current = str(event.body["runId"])
            elif current == self.run_id and (delta := self.text_delta(event)) is not None:
                message_id = event.body["messageId"]
                if message_id not in self.discarded_ids:
                    texts[message_id] = texts.get(message_id, "") + delta
        return "\n".join(text.strip() for text in texts.values())


class TextPieces:
    """Turns a run's events into its text as one reader sees it: messages on lines of their own."""

    def __init__(self, run: BaseRun) -> None:
        self._run = run
        self._message: str | None = None

    def piece(self, event: StreamEvent) -> str | None:
        delta = self._run.text_delta(event)
        if delta is None:
            return None
        message_id = event.body["messageId"]
        separator = "\n" if self._message is not None and message_id != self._message else ""
        self._message = message_id
        return separator + delta


def _sum_usage(entries: list[dict[str, Any]] | None) -> dict[str, int]:
    """The server's usage entries (one per provider and model, AG-UI's TokenUsage) added up."""
    usage: dict[str, int] = {}
    for entry in entries or []:
        for name, value in entry.items():
            if isinstance(value, int):
                usage[name] = usage.get(name, 0) + value
    return usage
