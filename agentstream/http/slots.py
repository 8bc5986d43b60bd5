"""The cap on open streams per instance (MAX_CONCURRENT_STREAMS).

Each open SSE response holds a connection, a tail subscription and, on Flex Consumption, a share
of the instance's HTTP concurrency. Past the cap a new stream gets 503 with Retry-After, so the
client backs off (or lands on another instance) instead of piling onto this one.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .. import telemetry
from ..exceptions import ServiceUnavailable

RETRY_AFTER_SECONDS = "5"


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


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that gives its slot back however the response ends (done, error, disconnect)."""

    def __init__(self, *args: object, release: Callable[[], None], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
