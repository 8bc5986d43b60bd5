"""The embedded store's guarantees, on a real SQLite file shared by several processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from pathlib import Path

import pytest
from ag_ui.core import CustomEvent, RunErrorEvent

from agentstream.exceptions import RunAlreadyActive, ThreadNotFound
from agentstream.log.events import NewEvent
from agentstream.log.stores.base import RunStatus, StepStatus
from agentstream.log.stores.sqlite import SQLiteEventStore

WRITERS = 4
APPENDS_PER_WRITER = 40


def labelled(label: str) -> NewEvent:
    return NewEvent.of(CustomEvent(name="test", value=label))


def write_from_another_process(path: str, writer: int) -> None:
    async def main() -> None:
        store = SQLiteEventStore(Path(path))
        for n in range(APPENDS_PER_WRITER):
            size = 1 + n % 3
            await store.append("t", "r", [labelled(f"{writer}:{n}:{i}") for i in range(size)])
        await store.close()

    asyncio.run(main())


async def new_thread(store: SQLiteEventStore, thread_id: str = "t", run_id: str = "r") -> None:
    await store.start_run(
        thread_id,
        run_id,
        [labelled("start")],
        [{"id": "u", "role": "user", "content": "x"}],
        create=True,
        agent="default",
    )


def test_appends_from_several_processes_stay_contiguous_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    asyncio.run(new_thread(SQLiteEventStore(path)))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=write_from_another_process, args=(str(path), w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0

    envelopes = asyncio.run(SQLiteEventStore(path).read("t", after=0, limit=100_000))
    assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1))
    labels = [json.loads(e.data)["value"] for e in envelopes[1:]]
    assert len(labels) == WRITERS * sum(1 + n % 3 for n in range(APPENDS_PER_WRITER))
    for writer in range(WRITERS):
        mine = [label for label in labels if label.startswith(f"{writer}:")]
        expected = [f"{writer}:{n}:{i}" for n in range(APPENDS_PER_WRITER) for i in range(1 + n % 3)]
        assert mine == expected
    # Each append's events sit next to each other: no other writer slipped in between.
    for index, label in enumerate(labels):
        writer, n, i = label.split(":")
        if int(i) > 0:
            assert labels[index - 1] == f"{writer}:{n}:{int(i) - 1}"


def test_concurrent_appends_in_one_process_stay_contiguous(tmp_path: Path) -> None:
    async def main() -> list[int]:
        store = SQLiteEventStore(tmp_path / "events.db")
        await new_thread(store)
        await asyncio.gather(*(store.append("t", "r", [labelled(str(n))] * 2) for n in range(30)))
        return [e.seq for e in await store.read("t", after=0)]

    assert asyncio.run(main()) == list(range(1, 62))


def test_an_append_key_lands_once(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteEventStore(tmp_path / "events.db")
        await new_thread(store)
        first = await store.append("t", "r", [labelled("a"), labelled("b")], key="step.1:0")
        again = await store.append("t", "r", [labelled("a"), labelled("b")], key="step.1:0")
        assert [e.seq for e in again] == [e.seq for e in first] == [2, 3]
        assert (await store.head("t")).last_seq == 3

    asyncio.run(main())


def test_runs_one_at_a_time_and_finish_once(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteEventStore(tmp_path / "events.db")
        await new_thread(store)
        with pytest.raises(RunAlreadyActive):
            await store.start_run("t", "r2", [labelled("x")], [], create=False, agent="default")
        with pytest.raises(ThreadNotFound):
            await store.start_run("nope", "r3", [labelled("x")], [], create=False, agent="default")
        error = NewEvent.of(RunErrorEvent(message="boom", code="model_error"))
        assert len(await store.finish_run("t", "r", RunStatus.FAILED, [error], error={"code": "model_error"})) == 1
        assert await store.finish_run("t", "r", RunStatus.FAILED, [error]) == []
        head = await store.head("t")
        assert head.active_run_id is None and head.last_seq == 2
        run = await store.get_run("t", "r")
        assert run.status is RunStatus.FAILED and run.end_seq == 2 and run.error == {"code": "model_error"}
        await store.start_run("t", "r2", [labelled("x")], [], create=False, agent="default")

    asyncio.run(main())


def test_a_step_commits_once_with_its_messages_and_usage(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteEventStore(tmp_path / "events.db")
        await new_thread(store)
        await store.begin_step("t", "r", "r.m0", 1)
        message = {"id": "m", "role": "assistant", "content": "hi"}
        for _ in range(2):
            await store.commit_step(
                "t",
                "r",
                "r.m0",
                result={"toolCalls": []},
                events=[labelled("end")],
                messages=[message],
                usage={"outputTokens": 5},
            )
        step = await store.get_step("t", "r.m0")
        assert step.status is StepStatus.COMMITTED and step.result == {"toolCalls": []}
        assert (await store.head("t")).last_seq == 2
        assert [m["id"] for m in await store.get_messages("t")] == ["u", "m"]
        assert (await store.get_run("t", "r")).usage == {"outputTokens": 5}

    asyncio.run(main())
