"""A run seen from the client: its events as they arrive, views over them, and its result."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._base_run import BaseRun, RunResult, ToolCall
from .errors import APIStatusError
from .events import StreamEvent
from .stream import EventStream
from .tools import ClientTool

if TYPE_CHECKING:
    from .client import AgentStreamClient


T = TypeVar("T")


class Run(BaseRun):
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
        super().__init__(
            thread_id=thread_id, run_id=run_id, started_at=started_at, tools=tools, stream_token=stream_token
        )
        self.stream = stream
        self.first_token = threading.Event()
        self._client = client
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
        """The assistant's text deltas as they arrive; a new message starts on a new line."""
        pieces = self.text_pieces()
        for event in self:
            if (piece := pieces.piece(event)) is not None:
                yield piece

    def reasoning(self) -> Iterator[str]:
        """The model's reasoning deltas as they arrive."""
        for event in self:
            if (delta := self.reasoning_delta(event)) is not None:
                yield delta

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
        """Wait for the run to end and return how it ended (a failed run too: see `RunResult.error`).

        Given the agent's output type (a pydantic model, say), return the run's structured result
        as that type instead; a run that ended without one raises NoOutputError, which carries
        the RunResult.
        """
        for _ in self:
            pass
        if self._result is None:
            self._result = self._result_from(self._client.thread(self.thread_id, stream_token=self.stream_token))
        return self._result if output_type is None else self._result.typed_output(output_type)

    def cancel(self) -> dict[str, Any]:
        """Ask the server to cancel the run (idempotent). The stream goes on to the run's terminal event."""
        if self.run_id is None:
            raise RuntimeError("This handle does not know its run yet: read until RUN_STARTED first.")
        return self._client.cancel(self.thread_id, self.run_id)

    def close(self) -> None:
        """Stop reading (the run itself goes on)."""
        self.stream.close()

    # -- the one reader ------------------------------------------------------------------

    def _event_at(self, index: int) -> StreamEvent | None:
        with self._lock:
            while index >= len(self.events):
                if self._failure is not None:
                    raise self._failure
                if self._exhausted:
                    return None
                try:
                    event = next(iter(self.stream), None)
                except Exception as exc:
                    # The stream is finished after this: every later view must see why, not an end.
                    self._failure = exc
                    raise
                if event is None:
                    self._exhausted = True
                    self._on_exhausted()
                    return None
                if (call := self._observe(event)) is not None:
                    self._answer(call)
            return self.events[index]

    def _on_first_token(self) -> None:
        self.first_token.set()

    def _answer(self, call: ToolCall) -> None:
        answer = call.tool.answer(call.id, call.arguments)
        refused = None
        try:
            self._client.submit_tool_results(self.thread_id, str(self.run_id), [answer])
        except APIStatusError as exc:
            refused = exc
        self._record_answer(call, answer, refused)
