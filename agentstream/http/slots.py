"""The cap on open streams per instance (MAX_CONCURRENT_STREAMS).

Each open SSE response holds a connection, a tail subscription and, on Flex Consumption, a share
of the instance's HTTP concurrency. Past the cap a new stream gets 503 with Retry-After, so the
client backs off (or lands on another instance) instead of piling onto this one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from .. import telemetry
from ..config import get_settings
from ..exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"
# The reader ends by plan at STREAM_MAX_SECONDS; its last frames and the end of the body follow at once.
CLOSE_GRACE_SECONDS = 1.0
# uvicorn's write buffer pauses the app past 64 KiB: one piece is about what a send may have to wait out.
WRITE_PIECE_BYTES = 64 * 1024


class StreamSlots:
    def __init__(self) -> None:
        self.open = 0

    def acquire(self, limit: int) -> Callable[[], None]:
        """Take a slot or raise 503; returns the release function (idempotent)."""
        if self.open >= limit:
            raise ServiceUnavailable(
                f"This instance is serving its maximum of {limit} streams. Retry shortly.",
                code="too_many_streams",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        self.open += 1
        telemetry.stream_opened()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open -= 1
                telemetry.stream_closed()

        return release


@functools.cache
def get_stream_slots() -> StreamSlots:
    """The process's stream slots: every HTTP trigger in a worker process counts against one cap."""
    return StreamSlots()


class _ReaderStalled(Exception):
    """A write to the client did not complete in time: the client stopped reading."""


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that gives its slot back however the response ends (done, error, disconnect).

    A client that stops reading (a backgrounded tab, a stuck proxy) makes the server's `send` block once
    the socket and the server's write buffer are full; the reader's own planned close is checked only
    between sends, so a blocked send would hold the slot for ever. Every send here is bounded instead:
    by `write_timeout` (STREAM_WRITE_TIMEOUT_SECONDS), and by the planned close (`max_seconds`,
    STREAM_MAX_SECONDS) plus a short grace for the last frames. A send past its bound ends the response.
    This works on any ASGI server whose `send` waits for the client (uvicorn's flow control does; so
    does a proxying worker).

    Bodies go out in pieces of at most WRITE_PIECE_BYTES, so the bound measures a client's progress,
    not the size of an event: a slow reader that keeps taking data is never cut off mid-event.
    """

    def __init__(
        self,
        *args: object,
        release: Callable[[], None],
        write_timeout: float | None = None,
        max_seconds: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._release = release
        settings = get_settings()
        self._write_timeout = settings.stream_write_timeout_seconds if write_timeout is None else write_timeout
        self._max_seconds = settings.stream_max_seconds if max_seconds is None else max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        planned_close = loop.time() + self._max_seconds + CLOSE_GRACE_SECONDS

        async def send_within_bound(message: Message) -> None:
            bound = min(self._write_timeout, max(planned_close - loop.time(), 0.0))
            try:
                async with asyncio.timeout(bound):
                    await send(message)
            except TimeoutError:
                raise _ReaderStalled from None

        async def bounded_send(message: Message) -> None:
            body = message.get("body", b"")
            if message["type"] != "http.response.body" or len(body) <= WRITE_PIECE_BYTES:
                await send_within_bound(message)
                return
            view = memoryview(body)
            for start in range(0, len(body), WRITE_PIECE_BYTES):
                last = start + WRITE_PIECE_BYTES >= len(body)
                piece = bytes(view[start : start + WRITE_PIECE_BYTES])
                more = message.get("more_body", False) if last else True
                await send_within_bound({"type": "http.response.body", "body": piece, "more_body": more})

        try:
            await super().__call__(scope, receive, bounded_send)
        except _ReaderStalled:
            logger.info("Ended a stream whose client stopped taking data (a write waited past its bound)")
        finally:
            self._release()
            # The frames' generator holds a tail subscription: close it now, not when it is collected.
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
