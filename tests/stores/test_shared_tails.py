"""Invariant 7 on every backend: readers of a thread on one host share one tail, so the store is
read per thread, never per reader, and events written by another process still reach them all."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from ag_ui.core import CustomEvent, RunFinishedEvent

from agentstream.log.events import NewEvent
from agentstream.log.reader import ReadOptions, read_thread
from agentstream.log.snapshots import snapshot_reference
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


def test_readers_at_a_runs_end_share_one_read_of_its_snapshot(backend: Backend) -> None:
    readers = 100
    user = {"id": "u", "role": "user", "content": "hi"}

    async def main() -> None:
        store = backend.open_store(backend.new_env())
        try:
            await store.start_run("t", "r", [event(0)], [user], create=True, agent="default")
            hub = TailHub(store)
            conversation_reads = [0]
            get_messages = store.get_messages

            async def counted(thread_id: str, *, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
                conversation_reads[0] += 1
                return await get_messages(thread_id, start=start, end=end)

            store.get_messages = counted  # type: ignore[method-assign]
            subscribed = asyncio.Barrier(readers + 1)

            async def read() -> list[str]:
                got: list[str] = []
                async for batch in read_thread(hub, "t", ReadOptions(after=0, max_seconds=60, heartbeat=60)):
                    got += [e.data for e in batch if e.type == "MESSAGES_SNAPSHOT"]
                    if batch[0].seq == 1:
                        await subscribed.wait()
                return got

            tasks = [asyncio.create_task(read()) for _ in range(readers)]
            await asyncio.wait_for(subscribed.wait(), timeout=30)
            ending = [snapshot_reference(1), NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r"))]
            await store.finish_run("t", "r", RunStatus.SUCCEEDED, ending)
            got = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
            assert {len(g) for g in got} == {1}
            assert {json.dumps(json.loads(g[0])["messages"]) for g in got} == {json.dumps([user])}
            assert conversation_reads[0] == 1
        finally:
            await store.close()

    asyncio.run(main())


async def follow_a_run_written_here(backend: Backend) -> tuple[int, float, list[int]]:
    env = backend.new_env()
    here = backend.open_store(env)
    elsewhere = backend.open_store(env)
    try:
        await here.start_run("t", "r", [event(0)], [], create=True, agent="default")
        hub = TailHub(here)
        received: list[int] = []
        subscribed = asyncio.Event()

        async def read() -> None:
            async for batch in read_thread(hub, "t", ReadOptions(after=1, max_seconds=60, heartbeat=0.01)):
                subscribed.set()
                received.extend(e.seq for e in batch)

        task = asyncio.create_task(read())
        await asyncio.wait_for(subscribed.wait(), timeout=30)
        reads = count_store_reads(here)
        begin = time.monotonic()
        for n in range(APPENDS * 2):
            await here.append("t", "r", [event(n)])
            await asyncio.sleep(0.005)  # dozens of poll intervals of streaming
        streaming_reads, elapsed = reads[0], time.monotonic() - begin
        # Another host's commit after this host's last one still arrives, by the next poll.
        await elsewhere.append("t", "r", [event(-1)])
        await asyncio.sleep(0.2)
        await here.finish_run("t", "r", RunStatus.SUCCEEDED, [NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r"))])
        await asyncio.wait_for(task, timeout=30)
        return streaming_reads, elapsed, received
    finally:
        await here.close()
        await elsewhere.close()


def test_a_run_streamed_from_this_host_costs_no_polling_reads(backend: Backend) -> None:
    env_store = backend.open_store(backend.new_env())
    pushes = env_store.pushes_commits
    asyncio.run(env_store.close())
    streaming_reads, elapsed, received = asyncio.run(follow_a_run_written_here(backend))
    assert received == list(range(2, 2 + APPENDS * 2 + 2))
    if pushes:
        # Woken by the store's own notifications of commits, not by polling: nothing to bound here.
        return
    # Polling would read once per active interval. Only an interval in which no local commit
    # landed (a write slower than the interval, on a busy machine) is read.
    assert streaming_reads <= max(2, elapsed / POLL_ACTIVE_SECONDS / 4), (streaming_reads, elapsed)
