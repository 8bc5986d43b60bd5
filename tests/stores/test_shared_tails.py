"""Invariant 7 on every backend: readers of a thread on one host share one tail, so the store is
read per thread, never per reader, and events written by another process still reach them all."""

from __future__ import annotations

import asyncio
import time

import pytest
from ag_ui.core import CustomEvent, RunFinishedEvent

from agentstream.log.events import NewEvent
from agentstream.log.reader import ReadOptions, read_thread
from agentstream.log.stores import EventStore, RunStatus
from agentstream.log.tail import POLL_ACTIVE_SECONDS, TailHub
from tests.stores.backends import Backend

APPENDS = 40


def event(n: int) -> NewEvent:
    return NewEvent.of(CustomEvent(name="n", value=n))


def count_store_reads(store: EventStore) -> list[int]:
    """Count every call this host makes to read the log: plain reads and waits for commits."""
    calls = [0]
    read, wait = store.read, store.wait_for_commits

    async def counted_read(thread_id: str, *, after: int, limit: int = 1000):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return await read(thread_id, after=after, limit=limit)

    async def counted_wait(thread_id: str, *, after: int, timeout: float):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return await wait(thread_id, after=after, timeout=timeout)

    store.read = counted_read  # type: ignore[method-assign]
    store.wait_for_commits = counted_wait  # type: ignore[method-assign]
    return calls


async def follow_a_run_written_elsewhere(backend: Backend, readers: int) -> tuple[int, float, list[list[int]]]:
    env = backend.new_env()
    here = backend.open_store(env)  # this host: its readers share its hub
    elsewhere = backend.open_store(env)  # another host's writer: nothing reaches the hub in-process
    try:
        await elsewhere.start_run("t", "r", [event(0)], [], create=True, agent="default")
        hub = TailHub(here)
        reads = count_store_reads(here)
        received: list[list[int]] = [[] for _ in range(readers)]
        caught_up = asyncio.Barrier(readers + 1)

        async def read(index: int) -> None:
            waited = False
            async for batch in read_thread(hub, "t", ReadOptions(after=1, max_seconds=60, heartbeat=60)):
                received[index] += [e.seq for e in batch]
                if not waited:
                    waited = True
                    await caught_up.wait()

        tasks = [asyncio.create_task(read(i)) for i in range(readers)]
        await elsewhere.append("t", "r", [event(1)])
        await asyncio.wait_for(caught_up.wait(), timeout=30)
        before, begin = reads[0], time.monotonic()
        for n in range(APPENDS):
            await elsewhere.append("t", "r", [event(n), event(n)])
            await asyncio.sleep(0.005)  # paces the writer like a model
        await elsewhere.finish_run(
            "t", "r", RunStatus.SUCCEEDED, [NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r"))]
        )
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        return reads[0] - before, time.monotonic() - begin, received
    finally:
        await here.close()
        await elsewhere.close()


@pytest.mark.parametrize("readers", [1, 200])
def test_store_reads_follow_the_thread_not_the_number_of_readers(backend: Backend, readers: int) -> None:
    reads, elapsed, received = asyncio.run(follow_a_run_written_elsewhere(backend, readers))
    expected = list(range(2, 2 + 1 + 2 * APPENDS + 1))
    assert all(seqs == expected for seqs in received)
    # One follower for the thread: at most one read per commit it is woken for, or per poll
    # interval while the run is active. Nothing here grows with the reader count.
    bound = (APPENDS + 1) + elapsed / POLL_ACTIVE_SECONDS + 10
    assert reads <= bound, (reads, elapsed)
