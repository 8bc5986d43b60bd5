"""A thread's event stream that reconnects by itself and never yields an event twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import requests

from .backoff import Backoff
from .errors import APIStatusError, DisconnectedError, ProtocolError, StreamGapError, error_from_response
from .events import StreamEvent
from .sse import SSEDecoder

logger = logging.getLogger(__name__)

TERMINAL_TYPES = frozenset({"RUN_FINISHED", "RUN_ERROR"})
# Load shedding and gateway hiccups: worth another attempt, unlike the other 4xx answers.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EventStream:
    """Iterates over the events of `GET /api/agent/stream/{thread_id}`, across any number of connections.

    Every (re)connection sends `Last-Event-ID` with the last id yielded, so the server sends exactly
    the rest. Ids must then rise by one: a repeated id is skipped, a skipped id raises
    `StreamGapError`. A dropped connection, a read timeout, a 5xx/429 or a planned close is followed
    by a reconnect after the `Backoff` delay (at once after a planned close that made progress).
    The stream ends on `204` (caught up on an idle thread), when the server ends a response and
    the next connection gets `204`, or, with `until_terminal=True`, right after a `RUN_FINISHED`
    or `RUN_ERROR`.

    `after=None` accepts whatever id comes first (a run's stream starts at the run's first event);
    an int is the exclusive cursor and the first id must be `after + 1`.
    """

    def __init__(
        self,
        session: requests.Session,
        url: str,
        *,
        after: int | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        until_terminal: bool = False,
        connect_timeout: float = 10.0,
        read_timeout: float = 45.0,
    ) -> None:
        self.url = url
        # What logs and errors show: the stream token in a stream_url is a credential.
        self._shown_url = url.split("?", 1)[0]
        self.last_id = after
        self.connections = 0
        self._session = session
        self._params = params or {}
        self._headers = headers or {}
        self._backoff = backoff or Backoff()
        self._until_terminal = until_terminal
        self._timeout = (connect_timeout, read_timeout)
        self._first = after is None
        self._response: requests.Response | None = None
        self._closed = threading.Event()
        self._iterator: Iterator[StreamEvent] | None = None

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    def __next__(self) -> StreamEvent:
        return next(iter(self))

    def close(self) -> None:
        """Stop reading; safe to call from another thread (it unblocks a pending read)."""
        self._closed.set()
        response = self._response
        if response is not None:
            response.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _events(self) -> Iterator[StreamEvent]:
        failures = 0
        while not self._closed.is_set():
            progressed = False
            try:
                response = self._connect()
            except requests.RequestException as exc:
                failures = self._wait_after_failure(failures, f"connection failed: {exc}")
                continue
            with response:
                status = response.status_code
                if status == 204:
                    return
                if status in _RETRYABLE_STATUS:
                    error = error_from_response(response)
                    failures = self._wait_after_failure(failures, str(error), error.retry_after, error)
                    continue
                if status >= 400:
                    raise error_from_response(response)
                content_type = response.headers.get("content-type", "")
                if not content_type.startswith("text/event-stream"):
                    raise ProtocolError(
                        f"Expected text/event-stream from {self._shown_url}, got '{content_type}' ({status})."
                    )
                decoder = SSEDecoder()
                try:
                    for chunk in response.iter_content(chunk_size=None):
                        for frame in decoder.decode(chunk):
                            event = self._accept(frame.id, frame.data)
                            if event is None:
                                continue
                            progressed = True
                            failures = 0
                            yield event
                            if self._until_terminal and event.type in TERMINAL_TYPES:
                                self._closed.set()
                                return
                except (requests.RequestException, OSError) as exc:
                    if self._closed.is_set():
                        return
                    logger.debug("Stream %s dropped after id %s: %s", self._shown_url, self.last_id, exc)
                    failures = self._wait_after_failure(failures, f"connection dropped: {exc}")
                    continue
                finally:
                    self._response = None
            if not progressed:
                # An end with nothing new is not a planned close that moved us on: back off.
                failures = self._wait_after_failure(failures, "the server ended the stream without new events")

    def _connect(self) -> requests.Response:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **self._headers}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        self.connections += 1
        response = self._session.get(self.url, params=self._params, headers=headers, stream=True, timeout=self._timeout)
        self._response = response
        if self._closed.is_set():
            response.close()
        return response

    def _accept(self, frame_id: str | None, data: str) -> StreamEvent | None:
        if frame_id is None or not frame_id.isdigit():
            raise ProtocolError(f"An event arrived without a numeric id (id: {frame_id!r}) from {self._shown_url}.")
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

    def _wait_after_failure(
        self, failures: int, reason: str, retry_after: float | None = None, error: Exception | None = None
    ) -> int:
        if failures >= self._backoff.max_attempts:
            message = f"Gave up on {self._shown_url} after {failures} failed reconnect attempts; last: {reason}"
            if isinstance(error, APIStatusError):
                raise error
            raise DisconnectedError(message) from error
        delay = self._backoff.delay(failures)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff.maximum))
        logger.info("Reconnecting to %s in %.2f s after id %s (%s)", self._shown_url, delay, self.last_id, reason)
        self._closed.wait(delay)
        return failures + 1
