"""One reader of a thread's log: the backlog from the store, then the live tail.

Yields the envelopes after the cursor in order, in batches, and an empty batch as a heartbeat tick
when nothing arrived for `heartbeat` seconds. It stops when the reader is caught up and there is nothing left to wait
for (no active run, or the watched run ended), or when `max_seconds` have passed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .events import Envelope
from .tail import TailHub


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadOptions:
    after: int
    run_id: str | None = None
    follow: bool = False
    max_seconds: float
    heartbeat: float


async def read_thread(hub: TailHub, thread_id: str, options: ReadOptions) -> AsyncIterator[list[Envelope]]:
    deadline = time.monotonic() + options.max_seconds
    cursor = options.after
    run_over = False
    async with hub.subscribe(thread_id) as tail:
        last_output = time.monotonic()
        while True:
            batch = tail.events_after(cursor)
            if batch is None:
                batch = await hub.store.read(thread_id, after=cursor, limit=1000)
                # What the store showed us is committed: it may be news to the tail (another writer).
                tail.offer(batch)
            if batch:
                cursor = batch[-1].seq
                if options.run_id is not None:
                    batch = [e for e in batch if e.run_id == options.run_id]
                    run_over = any(e.is_terminal for e in batch)
                if batch:
                    yield batch
                    last_output = time.monotonic()
                if run_over:
                    return
                continue
            # Judge the end only once the tail has seen all we have: its run state is then current.
            if (
                not options.follow
                and cursor == tail.head
                and (run_over if options.run_id is not None else tail.active_run_id is None)
            ):
                return
            now = time.monotonic()
            if now >= deadline:
                return
            if now - last_output >= options.heartbeat:
                yield []
                last_output = now
            await tail.wait(min(cursor, tail.head), min(deadline, last_output + options.heartbeat) - now)
