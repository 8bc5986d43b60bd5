"""Invariant 7: deltas are batched into store writes; a tail keeps order (sharing: tests/stores/)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ag_ui.core import CustomEvent, RunFinishedEvent, RunStartedEvent

from agentstream.log.events import Envelope, NewEvent
from agentstream.log.reader import ReadOptions, read_thread
from agentstream.log.stores.base import RunStatus
from agentstream.log.stores.sqlite import SQLiteEventStore
from agentstream.log.tail import POLL_ACTIVE_SECONDS, TailHub, ThreadTail
from agentstream.log.writer import EventWriter


class CountingStore(SQLiteEventStore):
    """The real SQLite store, counting its round trips."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.append_sizes: list[int] = []
        self.reads = 0

    async def append(self, thread_id, run_id, events, **options):  # type: ignore[no-untyped-def]
        self.append_sizes.append(len(events))
        return await super().append(thread_id, run_id, events, **options)

    async def read(self, thread_id, *, after, limit=1000):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await super().read(thread_id, after=after, limit=limit)


def event(n: int) -> NewEvent:
    return NewEvent.of(CustomEvent(name="n", value=n))


async def new_store(tmp_path: Path) -> CountingStore:
    store = CountingStore(tmp_path / "events.db")
    await store.start_run("t", "r", [event(0)], [], create=True, agent="default")
    return store


def test_first_delta_is_written_at_once_and_later_ones_coalesce_while_a_write_is_in_flight(tmp_path: Path) -> None:
    async def main() -> None:
        store = await new_store(tmp_path)
        writer = EventWriter(store, "t", "r", key="step")
        for n in range(1, 501):
            writer.emit(event(n))
            if n % 50 == 0:
                await asyncio.sleep(0)  # let the write in flight progress, as a model stream's awaits do
        unwritten = await writer.close()  # what a step commits together with its closing events
        await store.append("t", "r", unwritten)
        assert store.append_sizes[0] == 1
        assert sum(store.append_sizes) == 500
        assert len(store.append_sizes) == writer.flushes + 1 < 50
        values = [json.loads(e.data)["value"] for e in await store.read("t", after=1, limit=1000)]
        assert values == list(range(1, 501))

    asyncio.run(main())


async def live_reads(tmp_path: Path, readers: int) -> tuple[int, float, list[list[int]]]:
    store = await new_store(tmp_path)
    hub = TailHub(store)
    options = ReadOptions(after=1, max_seconds=30, heartbeat=30)
    received: list[list[int]] = [[] for _ in range(readers)]
    caught_up = asyncio.Barrier(readers + 1)

    async def read(index: int) -> None:
        waited = False
        async for batch in read_thread(hub, "t", options):
            received[index] += [e.seq for e in batch]
            if not waited:
                waited = True
                await caught_up.wait()

    async def first_batch_then_wait() -> None:
        await store.append("t", "r", [event(1)])
        await caught_up.wait()

    tasks = [asyncio.create_task(read(i)) for i in range(readers)]
    await first_batch_then_wait()
    before, started = store.reads, time.monotonic()
    for n in range(40):
        await store.append("t", "r", [event(n), event(n)])
        await asyncio.sleep(0.005)  # paces the writer like a model; readers are woken, not timed
    await store.finish_run("t", "r", RunStatus.SUCCEEDED, [NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r"))])
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    return store.reads - before, time.monotonic() - started, received


def test_readers_of_one_thread_share_one_tail_so_store_reads_do_not_grow_with_readers(tmp_path: Path) -> None:
    one_reads, one_seconds, one = asyncio.run(live_reads(tmp_path / "one", 1))
    many_reads, many_seconds, many = asyncio.run(live_reads(tmp_path / "many", 300))
    expected = list(range(2, 2 + 1 + 80 + 1))
    assert one == [expected]
    assert all(seqs == expected for seqs in many)
    # Only the per-thread poller reads the store while live, on its own clock, whatever the reader
    # count (a busy machine stretches the run, and with it the poller's count, not the readers').
    for reads, seconds in ((one_reads, one_seconds), (many_reads, many_seconds)):
        assert reads <= seconds / POLL_ACTIVE_SECONDS + 3, (reads, seconds)


def test_a_tail_puts_out_of_order_commits_back_in_order() -> None:
    async def main() -> None:
        tail = ThreadTail("t", 3, "r")
        tail.offer([Envelope(5, "r", 0, "CUSTOM", "{}")])
        assert tail.head == 3 and tail.gap.is_set()
        tail.offer([Envelope(4, "r", 0, "CUSTOM", "{}")])
        assert tail.head == 5
        assert [e.seq for e in tail.events_after(3) or []] == [4, 5]
        assert tail.events_after(1) is None  # older than what the tail holds: read the store

    asyncio.run(main())


def test_a_reader_does_not_end_while_a_run_started_by_another_process_is_active(tmp_path: Path) -> None:
    async def main() -> list[str]:
        here = await new_store(tmp_path)  # this process: its hub hears only its own writes
        elsewhere = SQLiteEventStore(tmp_path / "events.db")  # another process on the same log
        finished = NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r"))
        await here.finish_run("t", "r", RunStatus.SUCCEEDED, [finished])
        hub = TailHub(here)
        idle = ReadOptions(after=2, follow=True, max_seconds=30, heartbeat=30)
        follower = asyncio.create_task(anext(read_thread(hub, "t", idle)))
        await asyncio.sleep(0)  # the follower registers the tail, which now believes the thread idle
        started = NewEvent.of(RunStartedEvent(thread_id="t", run_id="r2"))
        await elsewhere.start_run("t", "r2", [started], [], create=False, agent="default")
        reader = asyncio.create_task(
            _collect(read_thread(hub, "t", ReadOptions(after=0, max_seconds=30, heartbeat=30)))
        )
        for n in range(3):
            await elsewhere.append("t", "r2", [event(n)])
        assert not reader.done()
        await elsewhere.finish_run(
            "t", "r2", RunStatus.SUCCEEDED, [NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r2"))]
        )
        types = await asyncio.wait_for(reader, timeout=10)
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        return types

    types = asyncio.run(main())
    assert types[-1] == "RUN_FINISHED" and types.count("RUN_FINISHED") == 2


async def _collect(batches) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.type for batch in [b async for b in batches] for e in batch]


def test_a_tail_poller_reads_at_most_once_per_active_interval_however_often_gaps_appear(tmp_path: Path) -> None:
    async def main() -> tuple[int, float]:
        store = await new_store(tmp_path)
        hub = TailHub(store)
        async with hub.subscribe("t") as tail:
            await asyncio.sleep(0.1)  # the poller's first read
            before, started = store.reads, time.monotonic()
            for _ in range(200):
                # A commit from a writer whose predecessor this process has not seen: a gap, every time.
                tail.offer([Envelope(tail.head + 2, "r", 0, "CUSTOM", "{}")])
                await asyncio.sleep(0.002)
            return store.reads - before, time.monotonic() - started

    reads, seconds = asyncio.run(main())
    assert 1 <= reads <= seconds / POLL_ACTIVE_SECONDS + 2, (reads, seconds)
