"""A run seen from the client: its events as they arrive, views over them, and its result."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import TypeAdapter

from .errors import ConflictError, NoOutputError, NotFoundError
from .events import StreamEvent
from .stream import TERMINAL_TYPES, EventStream
from .tools import ClientTool

if TYPE_CHECKING:
    from .client import AgentStreamClient

logger = logging.getLogger(__name__)

STEP_DISCARDED = "agentstream.step_discarded"
# Answers that lost a race, not failures: the call was answered already, the run ended (or was
# cancelled) meanwhile, or the call belonged to a step attempt that was discarded.
_STALE_ANSWER_CODES = frozenset({"tool_call_answered", "run_not_waiting", "tool_call_not_found"})

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """How a run ended.

    `outcome` is "success", "cancelled" or "error" (then `error` holds the server's code and
    message). `text` is the run's assistant text, one line per message, without what discarded
    step attempts streamed. `messages` is the thread's whole conversation after the run, as the
    server committed it. `usage` is the run's token usage (`inputTokens`, `outputTokens`, ...).
    `output` is the structured result of an agent with an output type, as JSON (None otherwise).
    """

    thread_id: str
    run_id: str
    outcome: str
    text: str
    messages: list[dict[str, Any]] = field(repr=False)
    usage: dict[str, int]
    error: dict[str, str] | None = None
    output: Any = None

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


class Run:
    """A run's handle: iterate over it for its events, or use the views.

    Every view (`iter(run)`, `text()`, `reasoning()`, `consume()`, `result()`) reads from the same
    underlying stream, which is read once: events already read are replayed to a view that starts
    later, so `text()` followed by `reasoning()` misses nothing. Views may run in different
    threads; `first_token` is a `threading.Event` set on the first model output (text or
    reasoning), with `first_token_at` its `time.monotonic()`.

    When the model calls one of the run's `tools` (`ClientTool`), its handler runs as soon as the
    call's TOOL_CALL_END is read, and the result goes to the run's tool-results endpoint, where
    the waiting run picks it up. `tool_answers` records what was sent.

    Usage:

        run = client.run("What is the weather in Paris?")
        for delta in run.text():
            print(delta, end="", flush=True)
        result = run.result()
    """

    def __init__(
        self,
        client: AgentStreamClient,
        stream: EventStream,
        *,
        thread_id: str,
        run_id: str | None,
        started_at: float | None = None,
        tools: Sequence[ClientTool] = (),
        stream_token: str | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.stream = stream
        self.started_at = time.monotonic() if started_at is None else started_at
        self.first_token = threading.Event()
        self.first_token_at: float | None = None
        self.finished_at: float | None = None
        self.terminal: StreamEvent | None = None
        self.events: list[StreamEvent] = []
        self.discarded_ids: set[str] = set()
        self.tool_answers: list[dict[str, Any]] = []
        self.tools = {tool.name: tool for tool in tools}
        self.stream_token = stream_token
        self._calls: dict[str, tuple[str, list[str]]] = {}
        self._client = client
        self._roles: dict[str, str] = {}
        self._lock = threading.Lock()
        self._exhausted = False
        self._result: RunResult | None = None

    # -- views ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[StreamEvent]:
        index = 0
        while (event := self._event_at(index)) is not None:
            yield event
            index += 1

    def text(self) -> Iterator[str]:
        """The assistant's text deltas as they arrive."""
        for event in self:
            if event.type == "TEXT_MESSAGE_CONTENT" and self.is_assistant_message(event.body["messageId"]):
                yield str(event.body["delta"])

    def reasoning(self) -> Iterator[str]:
        """The model's reasoning deltas as they arrive."""
        for event in self:
            if event.type == "REASONING_MESSAGE_CONTENT":
                yield str(event.body["delta"])

    def consume(self, on_text: Callable[[str], object] | None = None) -> RunResult:
        """Read the run to its end, handing each text delta to `on_text`, and return its result."""
        for delta in self.text():
            if on_text is not None:
                on_text(delta)
        return self.result()

    @overload
    def result(self) -> RunResult: ...

    @overload
    def result(self, output_type: type[T]) -> T: ...

    def result(self, output_type: type[T] | None = None) -> RunResult | T:
        """Wait for the run to end and return how it ended.

        Given the agent's output type (a pydantic model, say), return the run's structured result
        as that type instead; a run that ended without one raises NoOutputError, which carries
        the RunResult.
        """
        for _ in self:
            pass
        if self._result is None:
            self._result = self._build_result()
        if output_type is None:
            return self._result
        if not self._result.ok or self._result.output is None:
            raise NoOutputError(self._result)
        return TypeAdapter(output_type).validate_python(self._result.output)

    def cancel(self) -> dict[str, Any]:
        """Ask the server to cancel the run (idempotent). The stream goes on to the run's terminal event."""
        if self.run_id is None:
            raise RuntimeError("This handle does not know its run yet: read until RUN_STARTED first.")
        return self._client.cancel(self.thread_id, self.run_id)

    def close(self) -> None:
        """Stop reading (the run itself goes on)."""
        self.stream.close()

    @property
    def done(self) -> bool:
        return self.terminal is not None

    def is_assistant_message(self, message_id: str) -> bool:
        return self._roles.get(message_id, "assistant") == "assistant"

    # -- the one reader ------------------------------------------------------------------

    def _event_at(self, index: int) -> StreamEvent | None:
        with self._lock:
            while index >= len(self.events):
                if self._exhausted:
                    return None
                event = next(iter(self.stream), None)
                if event is None:
                    self._exhausted = True
                    self.finished_at = self.finished_at or time.monotonic()
                    return None
                self._observe(event)
                self.events.append(event)
            return self.events[index]

    def _observe(self, event: StreamEvent) -> None:
        body = event.body
        kind = event.type
        if kind == "RUN_STARTED":
            # A thread's stream may hold several runs: the handle follows the latest.
            self.run_id = str(body["runId"])
            self.terminal = None
        elif kind == "TEXT_MESSAGE_START":
            self._roles[body["messageId"]] = body.get("role") or "assistant"
        elif kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            if kind == "REASONING_MESSAGE_CONTENT" or self.is_assistant_message(body["messageId"]):
                self._mark_first_token()
        elif kind == "TOOL_CALL_START":
            self._calls[body["toolCallId"]] = (str(body["toolCallName"]), [])
        elif kind == "TOOL_CALL_ARGS" and body["toolCallId"] in self._calls:
            self._calls[body["toolCallId"]][1].append(str(body["delta"]))
        elif kind == "TOOL_CALL_END" and body["toolCallId"] in self._calls:
            self._answer_client_tool(body["toolCallId"])
        elif kind == "CUSTOM" and body.get("name") == STEP_DISCARDED:
            value = body.get("value") or {}
            self.discarded_ids.update(value.get("messageIds", []))
            self.discarded_ids.update(value.get("toolCallIds", []))
        elif kind in TERMINAL_TYPES:
            self.terminal = event
            self.finished_at = time.monotonic()

    def _answer_client_tool(self, tool_call_id: str) -> None:
        name, arguments = self._calls[tool_call_id]
        tool = self.tools.get(name)
        if tool is None or self.run_id is None:
            return
        answer = tool.answer(tool_call_id, "".join(arguments))
        try:
            self._client.submit_tool_results(self.thread_id, self.run_id, [answer])
        except (ConflictError, NotFoundError) as exc:
            if exc.code not in _STALE_ANSWER_CODES:
                raise
            logger.info("The answer to tool call %s was not taken: %s", tool_call_id, exc)
            return
        self.tool_answers.append(answer)

    def _mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
            self.first_token.set()

    def _build_result(self) -> RunResult:
        status = self._client.thread(self.thread_id, stream_token=self.stream_token)
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
            usage=dict(run.get("usage") or self._event_usage()),
            error=error,
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
            elif event.type == "TEXT_MESSAGE_CONTENT" and current == self.run_id:
                message_id = event.body["messageId"]
                if self.is_assistant_message(message_id) and message_id not in self.discarded_ids:
                    texts[message_id] = texts.get(message_id, "") + str(event.body["delta"])
        return "\n".join(text.strip() for text in texts.values())

    def _event_usage(self) -> dict[str, int]:
        usage: dict[str, int] = {}
        if self.terminal is not None:
            for entry in self.terminal.body.get("usage") or []:
                for name, value in entry.items():
                    if isinstance(value, int):
                        usage[name] = usage.get(name, 0) + value
        return usage
