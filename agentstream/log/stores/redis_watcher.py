"""The commit watcher of the Redis store: one blocking XREAD that wakes every tail of this process.

A tail waits here for entries past its cursor on its thread's stream; the one XREAD in flight
covers every tailed thread, so a process holds one extra connection however many streams it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import redis.asyncio

from ...exceptions import StoreUnavailable
from ..events import Envelope
from .redis_streams import KEY_PREFIX, UNREACHABLE, envelope_of, events_key

logger = logging.getLogger(__name__)

_XReadReply = list[tuple[str, list[tuple[str, dict[str, str]]]]] | None


@dataclass(eq=False)
class _Waiter:
    after: int
    future: asyncio.Future[list[Envelope]]


class CommitWatcher:
    """One blocking XREAD, on its own connection, for every thread tailed in this process.

    A waiter for a thread that the XREAD in flight does not cover adds an entry to this host's wake
    stream, which the XREAD also watches: it returns and is issued again with the new thread.
    """

    BLOCK_SECONDS = 30.0

    def __init__(self, connect: Callable[[float], redis.asyncio.Redis], wake: Callable[[str], Awaitable[None]]) -> None:
        """`connect(block_seconds)` opens the watcher's own connection; `wake(stream)` adds an entry to a stream."""
        self._connect = connect
        self._wake = wake
        self._waiters: dict[str, list[_Waiter]] = {}
        self._covered: frozenset[str] = frozenset()
        self._blocking = False
        self._wake_stream = f"{KEY_PREFIX}:wake:{secrets.token_hex(8)}"
        self._wake_id = "0-0"
        self._task: asyncio.Task[None] | None = None
        self._connection: redis.asyncio.Redis | None = None

    async def wait(self, thread_id: str, after: int, timeout: float) -> list[Envelope]:
        waiter = _Waiter(after, asyncio.get_running_loop().create_future())
        waiters = self._waiters.setdefault(thread_id, [])
        waiters.append(waiter)
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._watch(), name="redis-commit-watcher")
            elif self._blocking and thread_id not in self._covered:
                with contextlib.suppress(StoreUnavailable, *UNREACHABLE):
                    await self._wake(self._wake_stream)
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            return []
        finally:
            waiters.remove(waiter)
            if not waiters and self._waiters.get(thread_id) is waiters:
                del self._waiters[thread_id]

    async def _watch(self) -> None:
        failures = 0
        while self._waiters:
            streams = {
                events_key(thread_id): f"{min(w.after for w in waiters)}-0"
                for thread_id, waiters in self._waiters.items()
            }
            threads = {events_key(thread_id): thread_id for thread_id in self._waiters}
            streams[self._wake_stream] = self._wake_id
            self._covered = frozenset(self._waiters)
            if self._connection is None:
                self._connection = self._connect(self.BLOCK_SECONDS)
            self._blocking = True
            try:
                reply = cast(
                    _XReadReply,
                    await self._connection.xread(
                        streams,  # type: ignore[arg-type]
                        count=1000,
                        block=int(self.BLOCK_SECONDS * 1000),
                    ),
                )
            except UNREACHABLE:
                failures += 1
                logger.warning("Watching Redis for commits failed (%d in a row); retrying", failures, exc_info=True)
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))
                continue
            finally:
                self._blocking = False
            failures = 0
            for stream, entries in reply or []:
                if stream == self._wake_stream:
                    self._wake_id = entries[-1][0]
                    continue
                envelopes = [envelope_of(entry_id, fields) for entry_id, fields in entries]
                for waiter in self._waiters.get(threads[stream], []):
                    fresh = [e for e in envelopes if e.seq > waiter.after]
                    if fresh and not waiter.future.done():
                        waiter.future.set_result(fresh)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._connection is not None:
            await self._connection.aclose()
            self._connection = None
