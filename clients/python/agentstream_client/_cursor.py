"""The transport-free half of an event stream, shared by `EventStream` and `AsyncEventStream`.

A `StreamCursor` knows what to send on each connection, what to make of each answer, which
frames to accept, and how long to wait before the next attempt. The streams only move bytes.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator

from .backoff import Backoff
from .errors import APIStatusError, DisconnectedError, ProtocolError, StreamGapError
from .events import StreamEvent
from .sse import SSEDecoder

logger = logging.getLogger("agentstream_client.stream")

TERMINAL_TYPES = frozenset({"RUN_FINISHED", "RUN_ERROR"})
# Load shedding and gateway hiccups: worth another attempt, unlike the other 4xx answers.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Answer(enum.Enum):
    """What a connection's status line means for the stream."""

    EVENTS = "events"  # read the body as events
    END = "end"  # 204: caught up on an idle thread, the stream is over
    ERROR = "error"  # 4xx/5xx: read the error body and hand it to `delay_after_error`


class StreamCursor:
    """Where a stream stands (`last_id`), and the rules every connection of it follows.

    `after=None` accepts whatever id comes first (a run's stream starts at the run's first
    event); an int is the exclusive cursor and the first id must be `after + 1`.
    """

    def __init__(self, url: str, *, after: int | None, backoff: Backoff, until_terminal: bool) -> None:
        # What logs and errors show: the stream token in a stream_url is a credential.
        self.shown_url = url.split("?", 1)[0]
        self.last_id = after
        self.connections = 0
        self.finished = False
        self._backoff = backoff
        self._until_terminal = until_terminal
        self._first = after is None
        self._failures = 0
        self._progressed = False
        self._decoder = SSEDecoder()

    def request_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """The headers of the next connection; counts it and starts a fresh frame decoder."""
        sent = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **headers}
        if self.last_id is not None:
            sent["Last-Event-ID"] = str(self.last_id)
        self.connections += 1
        self._progressed = False
        self._decoder = SSEDecoder()
        return sent

    def answer(self, status: int, content_type: str) -> Answer:
        if status == 204:
            return Answer.END
        if status >= 400:
            return Answer.ERROR
        if not content_type.startswith("text/event-stream"):
            raise ProtocolError(f"Expected text/event-stream from {self.shown_url}, got '{content_type}' ({status}).")
        return Answer.EVENTS

    def feed(self, chunk: bytes) -> Iterator[StreamEvent]:
        """The new events in a chunk of the body, up to the end of the run when the stream stops there.

        Lazily: each frame is checked when the one before it has been taken, so the frames a
        reader took are all before a gap or a bad frame, and `last_id` is the last one taken.
        """
        for frame in self._decoder.decode(chunk):
            event = self._accept(frame.id, frame.data)
            if event is None:
                continue
            self._failures = 0
            self._progressed = True
            if self._until_terminal and event.type in TERMINAL_TYPES:
                self.finished = True
            yield event
            if self.finished:
                return

    def delay_after_error(self, error: APIStatusError) -> float:
        """Seconds to wait before retrying a 5xx/429 answer; any other error is raised."""
        if error.status_code not in _RETRYABLE_STATUS:
            raise error
        return self.delay_after_failure(str(error), retry_after=error.retry_after, error=error)

    def delay_after_end(self) -> float:
        """Seconds to wait after the server ended a response: none after a planned close that moved us on."""
        if self._progressed:
            return 0.0
        return self.delay_after_failure("the server ended the stream without new events")

    def delay_after_failure(
        self, reason: str, *, retry_after: float | None = None, error: Exception | None = None
    ) -> float:
        """Seconds to wait before the next attempt; raises once the backoff's attempts are spent."""
        if self._failures >= self._backoff.max_attempts:
            if isinstance(error, APIStatusError):
                raise error
            message = f"Gave up on {self.shown_url} after {self._failures} failed reconnect attempts; last: {reason}"
            raise DisconnectedError(message) from error
        delay = self._backoff.delay(self._failures)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff.maximum))
        self._failures += 1
        logger.info("Reconnecting to %s in %.2f s after id %s (%s)", self.shown_url, delay, self.last_id, reason)
        return delay

    def _accept(self, frame_id: str | None, data: str) -> StreamEvent | None:
        if frame_id is None or not frame_id.isdigit():
            raise ProtocolError(f"An event arrived without a numeric id (id: {frame_id!r}) from {self.shown_url}.")
        event_id = int(frame_id)
        if self.last_id is not None:
            if event_id <= self.last_id:
                return None
            if event_id != self.last_id + 1:
                raise StreamGapError(self.last_id + 1, event_id)
        event = StreamEvent.parse(event_id, data)
        if self._first and event.type != "RUN_STARTED":
            raise ProtocolError(f"A run's stream must begin with RUN_STARTED; event {event_id} is {event.type}.")
        self._first = False
        self.last_id = event_id
        return event


class BaseStream:
    """What `EventStream` and `AsyncEventStream` report the same way."""

    _cursor: StreamCursor

    @property
    def last_id(self) -> int | None:
        """The id of the last event yielded (what the next connection resumes after)."""
        return self._cursor.last_id

    @property
    def connections(self) -> int:
        """How many connections the stream has opened so far."""
        return self._cursor.connections
