"""Reconciliation's rule, with the orchestration's state given by hand: which runs end, which stay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import RunFinishedEvent

from agentstream import config, runtime
from agentstream.agent import runs
from agentstream.agent.agents import Agent
from agentstream.agent.reconcile import OrchestrationState, reconcile_active_runs, reconcile_run
from agentstream.agent.requests import RunRequest
from agentstream.exceptions import RunAlreadyActive
from agentstream.log.events import NewEvent
from agentstream.log.stores.base import RunStatus
from agentstream.log.stores.sqlite import SQLiteEventStore

GRACE = 60.0
AGENT = Agent(name="default")
USER = {"id": "u", "role": "user", "content": "hi"}


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("ORCHESTRATION_START_GRACE_SECONDS", str(GRACE))
    monkeypatch.setenv("EVENT_STORE_PATH", str(tmp_path / "events.db"))
    caches = [config.get_settings, runtime.get_store, runtime.get_hub]
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


def states(state: OrchestrationState | Exception) -> Any:
    async def status(thread_id: str, run_id: str) -> OrchestrationState:
        if isinstance(state, Exception):
            raise state
        return state

    return status


async def store_with_a_run(tmp_path: Path, *, age: float) -> SQLiteEventStore:
    clock = FakeClock()
    clock.now -= age
    store = SQLiteEventStore(tmp_path / "events.db", clock=clock)
    await store.start_run("t", "r", [], [USER], create=True, agent="default")
    clock.now += age
    return store


@pytest.mark.parametrize(
    ("state", "age", "ends"),
    [
        (OrchestrationState.LIVE, 10 * GRACE, False),
        (OrchestrationState.MISSING, GRACE / 2, False),
        (OrchestrationState.MISSING, GRACE + 1, True),
        (OrchestrationState.ENDED, 0, True),
        (RuntimeError("status API down"), 10 * GRACE, False),
    ],
    ids=["live", "missing within the grace", "missing after the grace", "ended at once", "unknown"],
)
def test_a_run_ends_only_without_a_live_orchestration(
    settings: None, tmp_path: Path, state: OrchestrationState | Exception, age: float, ends: bool
) -> None:
    async def main() -> None:
        store = await store_with_a_run(tmp_path, age=age)
        assert await reconcile_run(store, "t", "r", states(state)) is ends
        run = await store.get_run("t", "r")
        assert run is not None
        events = await store.read("t", after=0)
        if ends:
            assert run.status is RunStatus.FAILED and run.error is not None
            assert run.error["code"] == "orchestration_lost"
            assert [e.type for e in events] == ["MESSAGES_SNAPSHOT", "RUN_ERROR"]
            assert (await store.head("t")).active_run_id is None  # type: ignore[union-attr]
            # Once over, nothing more happens, whatever the orchestration says.
            assert await reconcile_run(store, "t", "r", states(OrchestrationState.ENDED)) is False
            assert len(await store.read("t", after=0)) == 2
        else:
            assert run.status is RunStatus.RUNNING and events == []
        await store.close()

    asyncio.run(main())


def test_a_lost_run_told_cancelling_ends_cancelled(settings: None, tmp_path: Path) -> None:
    async def main() -> None:
        store = await store_with_a_run(tmp_path, age=0)
        await store.request_cancel("t", "r")
        assert await reconcile_run(store, "t", "r", states(OrchestrationState.ENDED))
        run = await store.get_run("t", "r")
        assert run is not None and run.status is RunStatus.CANCELLED and run.error is None
        terminal = (await store.read("t", after=0))[-1]
        assert terminal.type == "RUN_FINISHED" and '"cancelled"' in terminal.data
        await store.close()

    asyncio.run(main())


def test_the_sweep_ends_every_lost_run_and_leaves_the_live_ones(settings: None, tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteEventStore(tmp_path / "events.db")
        for thread_id in ("live", "gone", "done"):
            await store.start_run(thread_id, "r", [], [USER], create=True, agent="default")
        await store.finish_run(
            "done", "r", RunStatus.SUCCEEDED, [NewEvent.of(RunFinishedEvent(thread_id="done", run_id="r"))]
        )
        assert sorted(a.thread_id for a in await store.list_active_runs()) == ["gone", "live"]

        async def status(thread_id: str, run_id: str) -> OrchestrationState:
            return OrchestrationState.LIVE if thread_id == "live" else OrchestrationState.ENDED

        assert await reconcile_active_runs(store, status) == 1
        assert [a.thread_id for a in await store.list_active_runs()] == ["live"]
        await store.close()

    asyncio.run(main())


def test_continuing_a_thread_reconciles_its_active_run_first(settings: None) -> None:
    async def main() -> None:
        store = runtime.get_store()
        await store.start_run("t", "r", [], [USER], create=True, agent="default")
        started: list[dict[str, Any]] = []

        async def start(run: dict[str, Any]) -> None:
            started.append(run)

        request = RunRequest(message="again", thread_id="t")
        with pytest.raises(RunAlreadyActive):
            await runs.start_run(request, AGENT, start, orchestration_status=states(OrchestrationState.LIVE))
        run = await runs.start_run(request, AGENT, start, orchestration_status=states(OrchestrationState.ENDED))
        assert [r["run_id"] for r in started] == [run.run_id]
        thread = await store.get_thread("t")
        assert thread is not None
        assert [(r.run_id, r.status) for r in thread.runs] == [("r", RunStatus.FAILED), (run.run_id, RunStatus.RUNNING)]
        await store.close()

    asyncio.run(main())


def test_a_start_that_errs_while_its_instance_exists_counts_as_started(settings: None) -> None:
    """A lost answer, or a repeated start refused because the instance runs: the run goes on."""

    async def main() -> None:
        store = runtime.get_store()

        async def start(run: dict[str, Any]) -> None:
            raise RuntimeError("An Orchestration instance with the status Running already exists.")

        run = await runs.start_run(
            RunRequest(message="hi"), AGENT, start, orchestration_status=states(OrchestrationState.LIVE)
        )
        info = await store.get_run(run.thread_id, run.run_id)
        assert info is not None and info.status is RunStatus.RUNNING
        with pytest.raises(Exception, match="could not be started"):
            await runs.start_run(
                RunRequest(message="hi"), AGENT, start, orchestration_status=states(OrchestrationState.MISSING)
            )
        await store.close()

    asyncio.run(main())
