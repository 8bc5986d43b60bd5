"""A thread's event stream that reconnects by itself and never yields an event twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import requests

from ._cursor import Answer, BaseStream, StreamCursor
from .backoff import Backoff
from .errors import error_from_response
from .events import StreamEvent

logger = logging.getLogger(__name__)


class EventStream(BaseStream):
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
        self._cursor = StreamCursor(url, after=after, backoff=backoff or Backoff(), until_terminal=until_terminal)
        self._session = session
        self._params = params or {}
        self._headers = headers or {}
        self._timeout = (connect_timeout, read_timeout)
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
        cursor = self._cursor
        while not self._closed.is_set():
            try:
                response = self._connect()
            except requests.RequestException as exc:
                self._closed.wait(cursor.delay_after_failure(f"connection failed: {exc}"))
                continue
            with response:
                answer = cursor.answer(response.status_code, response.headers.get("content-type", ""))
                if answer is Answer.END:
                    return
                if answer is Answer.ERROR:
                    self._closed.wait(cursor.delay_after_error(error_from_response(response)))
                    continue
                try:
                    for chunk in response.iter_content(chunk_size=None):
                        yield from cursor.feed(chunk)
                        if cursor.finished:
                            self._closed.set()
                            return
                except (requests.RequestException, OSError) as exc:
                    if self._closed.is_set():
                        return
                    logger.debug("Stream %s dropped after id %s: %s", cursor.shown_url, cursor.last_id, exc)
                    self._closed.wait(cursor.delay_after_failure(f"connection dropped: {exc}"))
                    continue
                finally:
                    self._response = None
            self._closed.wait(cursor.delay_after_end())

    def _connect(self) -> requests.Response:
        headers = self._cursor.request_headers(self._headers)
        response = self._session.get(self.url, params=self._params, headers=headers, stream=True, timeout=self._timeout)
        self._response = response
        if self._closed.is_set():
            response.close()
        return response
