"""The retention purge's order of work: the store first, then each run's history, then the sweep."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from ag_ui.core import RunStartedEvent

from agentstream.log.events import NewEvent
from agentstream.log.stores.sqlite import SQLiteEventStore
from agentstream.retention import PurgeReport, purge_idle_threads

RETENTION = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def start(store: SQLiteEventStore, thread_id: str, run_id: str) -> None:
    event = NewEvent.of(RunStartedEvent(thread_id=thread_id, run_id=run_id))
    await store.start_run(thread_id, run_id, [event], [], create=True, agent="default")


def test_idle_threads_go_with_their_histories_and_a_failed_history_purge_is_left_to_the_sweep(tmp_path: Path) -> None:
    clock = Clock()
    purged_histories: list[str] = []
    sweeps: list[dt.datetime] = []

    async def purge_history(thread_id: str, run_id: str) -> None:
        assert thread_id in ("idle", "idle-too")
        if run_id == "r-broken":
            raise ConnectionError("extension unreachable")
        purged_histories.append(run_id)

    async def sweep(created_before: dt.datetime) -> int:
        sweeps.append(created_before)
        return 3

    async def main() -> PurgeReport:
        store = SQLiteEventStore(tmp_path / "events.db", retention=RETENTION, clock=clock)
        await start(store, "idle", "r-old")
        await start(store, "idle-too", "r-broken")
        clock.now += RETENTION + 1
        await start(store, "fresh", "r-new")
        report = await purge_idle_threads(store, RETENTION, purge_history, sweep, now=clock.now)
        assert await store.head("idle") is None and await store.head("idle-too") is None
        assert await store.head("fresh") is not None
        await store.close()
        return report

    report = asyncio.run(main())
    assert report == PurgeReport(threads=2, runs=2, histories_swept=3, history_failures=1)
    assert purged_histories == ["r-old"]
    assert sweeps == [dt.datetime.fromtimestamp(clock.now - RETENTION, dt.UTC)]


def test_a_failing_sweep_does_not_fail_the_purge(tmp_path: Path) -> None:
    async def purge_history(thread_id: str, run_id: str) -> None:
        return None

    async def sweep(created_before: dt.datetime) -> int:
        raise ConnectionError("extension unreachable")

    async def main() -> PurgeReport:
        store = SQLiteEventStore(tmp_path / "events.db", retention=RETENTION)
        report = await purge_idle_threads(store, RETENTION, purge_history, sweep)
        await store.close()
        return report

    assert asyncio.run(main()) == PurgeReport(threads=0, runs=0, histories_swept=0, history_failures=0)
