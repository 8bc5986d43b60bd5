"""`EventStream` on `httpx` for asyncio: the same resume rules, read with `async for`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

import httpx

from ._cursor import Answer, BaseStream, StreamCursor
from .backoff import Backoff
from .errors import error_from_response
from .events import StreamEvent

logger = logging.getLogger(__name__)


class AsyncEventStream(BaseStream):
    """Iterates (`async for`) over the events of `GET /api/agent/stream/{thread_id}`, across connections.

    The rules are `EventStream`'s: `Last-Event-ID` on every reconnect, a repeated id skipped, a
    skipped id raising `StreamGapError`, backoff after drops, 5xx and 429, the end on `204` or
    (with `until_terminal=True`) right after the run's terminal event. `timeout` bounds the
    connect and each read: a read that stays silent longer counts as a dropped connection.
    """

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        url: str,
        *,
        after: int | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        until_terminal: bool = False,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self.url = url
        self._cursor = StreamCursor(url, after=after, backoff=backoff or Backoff(), until_terminal=until_terminal)
        self._http = http_client
        self._params = params or {}
        self._headers = headers or {}
        self._timeout = timeout or httpx.Timeout(10.0, read=45.0)
        self._closed = asyncio.Event()
        self._iterator: AsyncGenerator[StreamEvent, None] | None = None

    def __aiter__(self) -> AsyncGenerator[StreamEvent, None]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def __anext__(self) -> StreamEvent:
        return await anext(aiter(self))

    async def aclose(self) -> None:
        """Stop reading and close the connection. To stop a read pending in another task, cancel that task."""
        self._closed.set()
        if self._iterator is not None:
            await self._iterator.aclose()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        cursor = self._cursor
        while not self._closed.is_set():
            request = self._http.build_request(
                "GET",
                self.url,
                # httpx replaces a URL's own query with `params`, even an empty one: a run's stream
                # URL carries ?run_id= (and a stream token) that must stay.
                params=self._params or None,
                headers=cursor.request_headers(self._headers),
                timeout=self._timeout,
            )
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                await self._wait(cursor.delay_after_failure(f"connection failed: {exc}"))
                continue
            try:
                answer = cursor.answer(response.status_code, response.headers.get("content-type", ""))
                if answer is Answer.END:
                    return
                if answer is Answer.ERROR:
                    await response.aread()
                    await self._wait(cursor.delay_after_error(error_from_response(response)))
                    continue
                async for chunk in response.aiter_bytes():
                    for event in cursor.feed(chunk):
                        yield event
                    if cursor.finished:
                        self._closed.set()
                        return
            except httpx.TransportError as exc:
                logger.debug("Stream %s dropped after id %s: %s", cursor.shown_url, cursor.last_id, exc)
                await self._wait(cursor.delay_after_failure(f"connection dropped: {exc}"))
                continue
            finally:
                await response.aclose()
            await self._wait(cursor.delay_after_end())

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)
