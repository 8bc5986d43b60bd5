"""Shared tails: every reader of a thread in this process follows one in-memory tail.

Writers in this process hand each committed envelope to the tail at once (no store read at all).
Envelopes written by other processes reach the tail through one follower per thread: the store
wakes it when it can (`EventStore.pushes_commits`, e.g. Redis blocking reads), and otherwise it
polls, fast while a run is active and backing off when idle. Either way store reads per second
depend on the number of threads being watched, never on the number of readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator

from ag_ui.core import EventType

from ..exceptions import ThreadNotFound
from .events import Envelope
from .stores.base import EventStore, ThreadHead

RECENT_EVENTS = 4096
POLL_ACTIVE_SECONDS = 0.05
POLL_IDLE_MAX_SECONDS = 1.0
# A store that pushes commits is still asked again this often, in case a wake-up was lost.
PUSH_RECHECK_SECONDS = 30.0

logger = logging.getLogger(__name__)


class ThreadTail:
    def __init__(self, thread_id: str, last_seq: int, active_run_id: str | None) -> None:
        self.thread_id = thread_id
        self.head = last_seq
        self.active_run_id = active_run_id
        self.readers = 0
        self._recent: deque[Envelope] = deque(maxlen=RECENT_EVENTS)
        self._early: dict[int, Envelope] = {}
        self._changed = asyncio.Event()
        self.gap = asyncio.Event()

    def offer(self, envelopes: list[Envelope]) -> None:
        """Take committed envelopes in any order; the tail advances only contiguously."""
        for envelope in envelopes:
            if envelope.seq > self.head:
                self._early[envelope.seq] = envelope
        advanced = False
        while self.head + 1 in self._early:
            envelope = self._early.pop(self.head + 1)
            self._recent.append(envelope)
            self.head = envelope.seq
            self._follow_runs(envelope)
            advanced = True
        if self._early:
            # A concurrent writer's commit is not in hand yet: let the poller fetch the gap now.
            self.gap.set()
        if advanced:
            self._changed.set()
            self._changed = asyncio.Event()

    def _follow_runs(self, envelope: Envelope) -> None:
        if envelope.type == EventType.RUN_STARTED.value:
            self.active_run_id = envelope.run_id
        elif envelope.is_terminal and envelope.run_id == self.active_run_id:
            self.active_run_id = None

    def events_after(self, cursor: int) -> list[Envelope] | None:
        """Envelopes after `cursor` from memory, or None when they are no longer held here."""
        if cursor >= self.head:
            return []
        if not self._recent or self._recent[0].seq > cursor + 1:
            return None
        # Index from the right: live readers are near the end, and deque indexing is cheap there.
        missing = self.head - cursor
        return [self._recent[-i] for i in range(missing, 0, -1)]

    async def wait(self, cursor: int, timeout: float) -> None:
        """Return when the tail passes `cursor`, or after `timeout` seconds."""
        if self.head > cursor:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class TailHub:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._tails: dict[str, ThreadTail] = {}
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._opening: dict[str, asyncio.Future[ThreadHead | None]] = {}
        store.add_listener(self._on_commit)

    def _on_commit(self, thread_id: str, envelopes: list[Envelope]) -> None:
        tail = self._tails.get(thread_id)
        if tail is not None:
            tail.offer(envelopes)

    @contextlib.asynccontextmanager
    async def subscribe(self, thread_id: str) -> AsyncIterator[ThreadTail]:
        tail = self._tails.get(thread_id)
        if tail is None:
            # Readers arriving together wait for one head read instead of each making its own.
            opening = self._opening.get(thread_id)
            if opening is None:
                opening = self._opening[thread_id] = asyncio.ensure_future(self.store.head(thread_id))
                opening.add_done_callback(lambda _: self._opening.pop(thread_id, None))
            head = await asyncio.shield(opening)
            if head is None:
                raise ThreadNotFound(thread_id)
            tail = self._tails.get(thread_id)
            if tail is None:
                tail = self._tails[thread_id] = ThreadTail(thread_id, head.last_seq, head.active_run_id)
                self._pollers[thread_id] = asyncio.create_task(self._follow(tail), name=f"tail-follower:{thread_id}")
        tail.readers += 1
        try:
            yield tail
        finally:
            tail.readers -= 1
            if tail.readers == 0 and self._tails.get(thread_id) is tail:
                del self._tails[thread_id]
                self._pollers.pop(thread_id).cancel()

    async def _follow(self, tail: ThreadTail) -> None:
        # The first read closes any gap between reading the head and registering the tail.
        interval = 0.0
        last_read = -POLL_ACTIVE_SECONDS
        while True:
            try:
                envelopes = await self._next_commits(tail, interval, not_before=last_read + POLL_ACTIVE_SECONDS)
            except Exception:
                logger.warning("Following thread %s failed; retrying", tail.thread_id, exc_info=True)
                interval = POLL_IDLE_MAX_SECONDS
                continue
            finally:
                last_read = time.monotonic()
            tail.offer(envelopes)
            if self.store.pushes_commits:
                interval = PUSH_RECHECK_SECONDS
            elif envelopes or tail.active_run_id is not None:
                interval = POLL_ACTIVE_SECONDS
            else:
                interval = min(max(interval * 2, POLL_ACTIVE_SECONDS), POLL_IDLE_MAX_SECONDS)

    async def _next_commits(self, tail: ThreadTail, timeout: float, *, not_before: float) -> list[Envelope]:
        """Envelopes other writers committed: when the store has some, or after `timeout`.

        A gap in the tail (a commit offered out of order) or a zero timeout means read right away,
        but never before `not_before`: gaps never make more than one read per active interval.
        """
        if timeout > 0:
            commits = asyncio.ensure_future(
                self.store.wait_for_commits(tail.thread_id, after=tail.head, timeout=timeout)
            )
            gap = asyncio.ensure_future(tail.gap.wait())
            try:
                await asyncio.wait({commits, gap}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gap.cancel()
                commits.cancel()
            if commits.done() and not commits.cancelled():
                tail.gap.clear()
                return commits.result()
        await asyncio.sleep(max(0.0, not_before - time.monotonic()))
        tail.gap.clear()
        return await self.store.read(tail.thread_id, after=tail.head, limit=RECENT_EVENTS)
