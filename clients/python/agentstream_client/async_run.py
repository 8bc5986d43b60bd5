"""A run seen from the async client: its events as they arrive, views over them, and its result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._base_run import BaseRun, RunResult, ToolCall
from .async_stream import AsyncEventStream
from .errors import APIStatusError, RunFailedError
from .events import StreamEvent
from .tools import ClientTool

T = TypeVar("T")

if TYPE_CHECKING:
    from .async_client import AsyncAgentStreamClient


class AsyncRun(BaseRun):
    """A run's handle for asyncio: `async for event in run`, or the views.

    Every view (`async for`, `consume()`, `consume_reasoning()`, `first_token`, `result()`) reads
    from the same underlying stream, which is read once, on demand: events already read are
    replayed to a view that starts later, and views read from different tasks at once each get
    every event, in order. A view whose task is cancelled leaves the stream as it was for the others.

    `await run.first_token` reads until the first text or reasoning delta and gives that event
    (`None` when the run ended without one); `first_token_at` is its `time.monotonic()`.

    Client-side tools (`ClientTool`) are answered as soon as their call's TOOL_CALL_END is read;
    an `async def` handler is awaited, a plain one runs on the event loop (keep it quick).

    Usage:

        run = await client.run("What is the weather in Paris?")
        async for delta in run.consume():
            print(delta, end="", flush=True)
        result = await run.result()
    """

    def __init__(
        self,
        client: AsyncAgentStreamClient,
        stream: AsyncEventStream,
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
        self._client = client
        self._first_token_event: StreamEvent | None = None
        self._reading: asyncio.Future[None] | None = None
        self._exhausted = False
        self._closed = False
        self._result: RunResult | None = None
        self._result_lock = asyncio.Lock()

    # -- views ---------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncGenerator[StreamEvent, None]:
        index = 0
        while (event := await self._event_at(index)) is not None:
            yield event
            index += 1

    async def consume(self) -> AsyncGenerator[str, None]:
        """The assistant's text deltas as they arrive; a new message starts on a new line."""
        pieces = self.text_pieces()
        async for event in self:
            if (piece := pieces.piece(event)) is not None:
                yield piece

    async def consume_reasoning(self) -> AsyncGenerator[str, None]:
        """The model's reasoning deltas as they arrive, independently of the text."""
        async for event in self:
            if (delta := self.reasoning_delta(event)) is not None:
                yield delta

    @property
    def first_token(self) -> _FirstToken:
        """An awaitable: the first text or reasoning delta's event, or None if the run ended without one."""
        return _FirstToken(self)

    @overload
    async def result(self) -> RunResult: ...

    @overload
    async def result(self, output_type: type[T]) -> T: ...

    async def result(self, output_type: type[T] | None = None) -> RunResult | T:
        """Wait for the run to end and return how it ended; raises `RunFailedError` if it ended with RUN_ERROR.

        Given the agent's output type, return the run's structured result as that type instead
        (NoOutputError if it gave none), as `Run.result` does.
        """
        async for _ in self:
            pass
        async with self._result_lock:
            if self._result is None:
                status = await self._client.thread(self.thread_id, stream_token=self.stream_token)
                self._result = self._result_from(status)
        if self._result.outcome == "error":
            raise RunFailedError(self._result)
        return self._result if output_type is None else self._result.typed_output(output_type)

    async def cancel(self) -> dict[str, Any]:
        """Ask the server to cancel the run (idempotent). The stream goes on to the run's terminal event."""
        if self.run_id is None:
            raise RuntimeError("This handle does not know its run yet: read until RUN_STARTED first.")
        return await self._client.cancel(self.thread_id, self.run_id)

    async def aclose(self) -> None:
        """Stop reading (the run itself goes on); views still reading see the stream end."""
        self._closed = True
        reading = self._reading
        if reading is not None:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        await self.stream.aclose()

    # -- the one reader ------------------------------------------------------------------

    async def _event_at(self, index: int) -> StreamEvent | None:
        while index >= len(self.events):
            if self._failure is not None:
                raise self._failure
            if self._exhausted or self._closed:
                return None
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read_next())
            reading = self._reading
            try:
                # Shielded: a view cancelled here (a timeout, say) leaves the read going for the others.
                await asyncio.shield(reading)
            except asyncio.CancelledError:
                if not (reading.cancelled() and self._closed):
                    raise
        return self.events[index]

    async def _read_next(self) -> None:
        try:
            event = await anext(aiter(self.stream), None)
            if event is None:
                self._exhausted = True
                self._on_exhausted()
            elif (call := self._observe(event)) is not None:
                await self._answer(call)
        except Exception as exc:
            # Kept for every view, now and later, instead of ending the stream quietly for the next one.
            self._failure = exc
        finally:
            self._reading = None

    def _on_first_token(self) -> None:
        self._first_token_event = self.events[-1]

    async def _wait_first_token(self) -> StreamEvent | None:
        index = 0
        while self.first_token_at is None and await self._event_at(index) is not None:
            index += 1
        return self._first_token_event

    async def _answer(self, call: ToolCall) -> None:
        answer = await call.tool.aanswer(call.id, call.arguments)
        refused = None
        try:
            await self._client.submit_tool_results(self.thread_id, str(self.run_id), [answer])
        except APIStatusError as exc:
            refused = exc
        self._record_answer(call, answer, refused)


class _FirstToken:
    """`await run.first_token`: awaitable any number of times, and reading only when awaited."""

    def __init__(self, run: AsyncRun) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, StreamEvent | None]:
        return self._run._wait_first_token().__await__()
