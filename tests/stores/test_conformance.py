"""What every event store guarantees, checked against each backend on its real server."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ag_ui.core import CustomEvent, RunErrorEvent, RunFinishedEvent

from agentstream.exceptions import (
    AgentMismatch,
    CancelRequested,
    CursorExpired,
    RunAlreadyActive,
    RunOver,
    StepSuperseded,
    StoreUnavailable,
    ThreadNotFound,
)
from agentstream.log.events import NewEvent
from agentstream.log.stores import EventStore, RunStatus, StepStatus
from agentstream.log.stores.base import StepAttempt
from tests.stores.backends import Backend

WRITERS = 4
APPENDS_PER_WRITER = 30
USER = {"id": "u", "role": "user", "content": "x"}


def labelled(label: Any) -> NewEvent:
    return NewEvent.of(CustomEvent(name="test", value=label))


def finished(run_id: str = "r") -> list[NewEvent]:
    return [NewEvent.of(RunFinishedEvent(thread_id="t", run_id=run_id))]


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def on_store(
    backend: Backend, test: Callable[[EventStore], Awaitable[Any]], *, env: dict[str, str] | None = None, **options: Any
) -> Any:
    """Run `test` with a store on a fresh namespace of the backend (or on `env`), closing it after."""

    async def main() -> Any:
        store = backend.open_store(env or backend.new_env(), **options)
        try:
            return await test(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def new_thread(store: EventStore, thread_id: str = "t", run_id: str = "r") -> None:
    await store.start_run(thread_id, run_id, [labelled("start")], [USER], create=True, agent="default")


def write_from_another_process(backend: type[Backend], env: dict[str, str], writer: int) -> None:
    async def main() -> None:
        store = backend.open_store(env)
        for n in range(APPENDS_PER_WRITER):
            await store.append("t", "r", [labelled(f"{writer}:{n}:{i}") for i in range(1 + n % 3)])
        await store.close()

    asyncio.run(main())


def test_appends_from_several_processes_stay_contiguous_and_atomic(backend: Backend) -> None:
    env = backend.new_env()
    on_store(backend, new_thread, env=env)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=write_from_another_process, args=(type(backend), env, w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0

    envelopes = on_store(backend, lambda store: store.read("t", after=0, limit=100_000), env=env)
    assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1))
    labels = [json.loads(e.data)["value"] for e in envelopes[1:]]
    assert len(labels) == WRITERS * sum(1 + n % 3 for n in range(APPENDS_PER_WRITER))
    for writer in range(WRITERS):
        expected = [f"{writer}:{n}:{i}" for n in range(APPENDS_PER_WRITER) for i in range(1 + n % 3)]
        assert [label for label in labels if label.startswith(f"{writer}:")] == expected
    # Each append's events sit next to each other: no other writer slipped in between.
    for index, label in enumerate(labels):
        writer, n, i = label.split(":")
        if int(i) > 0:
            assert labels[index - 1] == f"{writer}:{n}:{int(i) - 1}"


def test_concurrent_appends_in_one_process_stay_contiguous(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        await new_thread(store)
        await asyncio.gather(*(store.append("t", "r", [labelled(n), labelled(n)]) for n in range(30)))
        envelopes = await store.read("t", after=0)
        assert [e.seq for e in envelopes] == list(range(1, 62))
        values = [e.body()["value"] for e in envelopes[1:]]
        assert values[::2] == values[1::2]

    on_store(backend, test)


def test_an_append_key_lands_once(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        await new_thread(store)
        first = await store.append("t", "r", [labelled("a"), labelled("b")], key="step.1:0")
        again = await store.append("t", "r", [labelled("a"), labelled("b")], key="step.1:0")
        assert again == first and [e.seq for e in first] == [2, 3]
        other = await store.append("t", "r", [labelled("c")], key="step.1:1")
        assert [e.seq for e in other] == [4]
        assert (await store.head("t")).last_seq == 4
        assert [e.body()["value"] for e in await store.read("t", after=1)] == ["a", "b", "c"]

    on_store(backend, test)


def test_reading_after_any_cursor_yields_exactly_the_rest(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        await new_thread(store)
        for n in range(12):
            await store.append("t", "r", [labelled(f"{n}.{i}") for i in range(1 + n % 4)])
        everything = await store.read("t", after=0)
        last = everything[-1].seq
        assert [e.seq for e in everything] == list(range(1, last + 1))
        for cursor in range(last + 1):
            assert await store.read("t", after=cursor) == everything[cursor:], cursor
            assert await store.read("t", after=cursor, limit=3) == everything[cursor : cursor + 3], cursor
        assert await store.read("nothing-here", after=0) == []

    on_store(backend, test)


def test_run_metadata_one_active_run_finishing_once(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        await new_thread(store)
        with pytest.raises(RunAlreadyActive):
            await store.start_run("t", "r2", [labelled("x")], [], create=False, agent="default")
        with pytest.raises(ThreadNotFound):
            await store.start_run("nope", "r3", [labelled("x")], [], create=False, agent="default")
        assert await store.head("nope") is None and await store.get_thread("nope") is None
        run = await store.get_run("t", "r")
        assert run.status is RunStatus.RUNNING and run.start_seq == 1 and run.end_seq is None
        assert not run.cancel_requested and run.usage == {} and run.error is None

        error = NewEvent.of(RunErrorEvent(message="boom", code="model_error"))
        closing = [labelled("snapshot"), error]
        snapshot, terminal = await store.finish_run("t", "r", RunStatus.FAILED, closing, error={"code": "model_error"})
        assert (snapshot.seq, terminal.seq) == (2, 3) and terminal.type == "RUN_ERROR" and terminal.data == error.data
        assert await store.finish_run("t", "r", RunStatus.FAILED, [error]) == []
        head = await store.head("t")
        assert head.active_run_id is None and head.last_seq == 3
        run = await store.get_run("t", "r")
        assert run.status is RunStatus.FAILED and run.end_seq == 3 and run.error == {"code": "model_error"}
        assert run.finished_at is not None and run.finished_at >= run.created_at
        with pytest.raises(RunOver):
            await store.append("t", "r", [labelled("late")])

        second_user = {"id": "u2", "role": "user", "content": "again"}
        await store.start_run("t", "r2", [labelled("x")], [second_user], create=False, agent="default")
        cancelled = await store.request_cancel("t", "r2")
        assert cancelled.status is RunStatus.RUNNING and cancelled.cancel_requested
        assert await store.request_cancel("t", "unknown") is None
        await store.finish_run("t", "r2", RunStatus.CANCELLED, finished("r2"))
        thread = await store.get_thread("t")
        assert thread.last_seq == 5 and thread.active_run_id is None
        assert [(r.run_id, r.status, r.start_seq, r.end_seq) for r in thread.runs] == [
            ("r", RunStatus.FAILED, 1, 3),
            ("r2", RunStatus.CANCELLED, 4, 5),
        ]
        assert thread.created_at <= thread.updated_at
        assert await store.get_messages("t") == [USER, second_user]

    on_store(backend, test)


def test_a_run_told_cancelling_can_only_finish_cancelled(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        await new_thread(store)
        await store.request_cancel("t", "r")
        error = [NewEvent.of(RunErrorEvent(message="boom", code="model_error"))]
        with pytest.raises(CancelRequested):
            await store.finish_run("t", "r", RunStatus.SUCCEEDED, finished())
        with pytest.raises(CancelRequested):
            await store.finish_run("t", "r", RunStatus.FAILED, error, error={"code": "model_error"})
        head = await store.head("t")
        assert head.last_seq == 1 and head.active_run_id == "r"
        [terminal] = await store.finish_run("t", "r", RunStatus.CANCELLED, finished())
        assert terminal.seq == 2
        run = await store.get_run("t", "r")
        assert run.status is RunStatus.CANCELLED and run.end_seq == 2 and run.error is None
        # Over: a late finishing write of any kind appends nothing and raises nothing.
        assert await store.finish_run("t", "r", RunStatus.SUCCEEDED, finished()) == []

    on_store(backend, test)


def test_active_runs_are_listed_until_they_finish_or_their_thread_goes(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        assert await store.list_active_runs() == []
        for thread_id in ("a", "b", "c"):
            await new_thread(store, thread_id, f"{thread_id}1")
        await store.finish_run("b", "b1", RunStatus.SUCCEEDED, finished("b1"))
        assert [(r.thread_id, r.run_id) for r in await store.list_active_runs()] == [("a", "a1"), ("c", "c1")]
        await store.start_run("b", "b2", [labelled("again")], [], create=False, agent="default")
        await store.request_cancel("c", "c1")
        await store.finish_run("c", "c1", RunStatus.CANCELLED, finished("c1"))
        assert [(r.thread_id, r.run_id) for r in await store.list_active_runs()] == [("a", "a1"), ("b", "b2")]
        await store.purge_idle_threads(time.time() + 1)
        assert await store.list_active_runs() == []

    on_store(backend, test)


async def everything_about(store: EventStore, backend: Backend, env: dict[str, str]) -> tuple[Any, ...]:
    """What a refused start must leave as it was: the thread, its runs, log and messages, and every stored row."""
    thread = await store.get_thread("t")
    return thread, await store.read("t", after=0), await store.get_messages("t"), backend.snapshot(env)


def test_a_thread_belongs_to_the_agent_that_created_it(backend: Backend) -> None:
    env = backend.new_env()
    intruder = {"id": "u9", "role": "user", "content": "let me in"}

    async def refuse_beta(store: EventStore, *, create: bool) -> None:
        before = await everything_about(store, backend, env)
        with pytest.raises(AgentMismatch) as refused:
            await store.start_run("t", "r9", [labelled("beta")], [intruder], create=create, agent="beta")
        assert (refused.value.status_code, refused.value.code) == (409, "agent_mismatch")
        assert refused.value.message == "Thread 't' belongs to agent 'alpha', not 'beta'."
        assert (refused.value.owner, refused.value.agent) == ("alpha", "beta")
        assert await everything_about(store, backend, env) == before

    async def test(store: EventStore) -> None:
        await store.start_run("t", "r", [labelled("start")], [USER], create=True, agent="alpha")
        head = await store.head("t")
        assert (head.agent, head.active_run_id, head.last_seq) == ("alpha", "r", 1)
        assert (await store.get_thread("t")).agent == "alpha"

        # The owner is checked before the active run: beta hears that the thread is not its own.
        await refuse_beta(store, create=False)
        await store.finish_run("t", "r", RunStatus.SUCCEEDED, finished())
        await refuse_beta(store, create=False)
        # A start that may create the thread (as AG-UI's does) is refused the same way.
        await refuse_beta(store, create=True)
        elsewhere = backend.open_store(env)
        try:
            await refuse_beta(elsewhere, create=False)
        finally:
            await elsewhere.close()

        second_user = {"id": "u2", "role": "user", "content": "again"}
        await store.start_run("t", "r2", [labelled("again")], [second_user], create=False, agent="alpha")
        head = await store.head("t")
        assert (head.agent, head.active_run_id, head.last_seq) == ("alpha", "r2", 3)
        thread = await store.get_thread("t")
        assert thread.agent == "alpha" and [r.run_id for r in thread.runs] == ["r", "r2"]
        assert await store.get_messages("t") == [USER, second_user]

    on_store(backend, test, env=env)


def test_a_thread_stored_before_owners_is_claimed_by_the_first_agent_that_continues_it(backend: Backend) -> None:
    env = backend.new_env()
    on_store(backend, new_thread, env=env)  # owned by "default", with run "r" active
    backend.forget_owners(env)

    async def test(store: EventStore) -> None:
        head = await store.head("t")
        assert (head.agent, head.active_run_id, head.last_seq) == (None, "r", 1)
        assert (await store.get_thread("t")).agent is None
        # A start refused for the active run claims nothing.
        with pytest.raises(RunAlreadyActive):
            await store.start_run("t", "r2", [labelled("early")], [], create=False, agent="beta")
        assert (await store.head("t")).agent is None
        await store.finish_run("t", "r", RunStatus.SUCCEEDED, finished())

        await store.start_run("t", "r2", [labelled("claim")], [], create=False, agent="beta")
        head = await store.head("t")
        assert (head.agent, head.active_run_id, head.last_seq) == ("beta", "r2", 3)
        assert (await store.get_thread("t")).agent == "beta"
        await store.finish_run("t", "r2", RunStatus.SUCCEEDED, finished("r2"))
        with pytest.raises(AgentMismatch):
            await store.start_run("t", "r3", [labelled("late")], [], create=False, agent="default")
        assert [e.seq for e in await store.read("t", after=0)] == [1, 2, 3, 4]

    on_store(backend, test, env=env)


def test_a_two_mib_event_reads_back_byte_identical(backend: Backend) -> None:
    text = "".join(chr(c) for c in range(32, 0x2FF)) + '\n\t"quoted" \\ \u2028 \U0001f600 é'
    big = NewEvent.of(CustomEvent(name="big", value=(text * (2 * 1024 * 1024 // len(text.encode()) + 1))))
    assert len(big.data.encode()) > 2 * 1024 * 1024

    async def test(store: EventStore) -> None:
        await new_thread(store)
        [written] = await store.append("t", "r", [big], key="big")
        [read] = await store.read("t", after=1)
        assert read == written and read.data == big.data and read.type == "CUSTOM"

    on_store(backend, test)


def test_step_fences_refuse_superseded_attempts_and_commit_once(backend: Backend) -> None:
    async def test(store: EventStore) -> None:
        await new_thread(store)
        first = await store.begin_step("t", "r", "r.m0", 1)
        assert (first.status, first.attempt, first.start_seq) == (StepStatus.STARTED, 1, 1)
        await store.append("t", "r", [labelled("a1")], key="r.m0.1:0", attempt=StepAttempt("r.m0", 1))
        assert [s.step_id for s in await store.open_steps("t", "r")] == ["r.m0"]

        await store.begin_step("t", "r", "r.m0", 2)
        with pytest.raises(StepSuperseded):
            await store.append("t", "r", [labelled("late")], key="r.m0.1:1", attempt=StepAttempt("r.m0", 1))
        with pytest.raises(StepSuperseded):
            await store.commit_step("t", "r", "r.m0", result={}, events=[], messages=[], attempt=1)
        assert await store.discard_step("t", "r", "r.m0", 1, [labelled("closing")]) == []

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
                attempt=2,
            )
        step = await store.get_step("t", "r.m0")
        assert step.status is StepStatus.COMMITTED and step.result == {"toolCalls": []} and step.attempt == 2
        assert await store.open_steps("t", "r") == []
        assert (await store.head("t")).last_seq == 3
        assert await store.get_messages("t") == [USER, message]
        assert (await store.get_run("t", "r")).usage == {"outputTokens": 5}
        assert await store.get_step("t", "r.m9") is None

        # A tool step commits without an attempt; an interrupted model step is closed once.
        tool = {"id": "c.result", "role": "tool", "toolCallId": "c", "content": "42"}
        await store.commit_step("t", "r", "r.t0.c", result=tool, events=[labelled("result")], messages=[tool])
        await store.begin_step("t", "r", "r.m1", 1)
        await store.append("t", "r", [labelled("half")], key="r.m1.1:0", attempt=StepAttempt("r.m1", 1))
        closed = await store.discard_step("t", "r", "r.m1", 1, [labelled("closing"), labelled("marker")])
        assert [e.seq for e in closed] == [6, 7]
        assert await store.discard_step("t", "r", "r.m1", 1, [labelled("closing")]) == []
        assert (await store.get_step("t", "r.m1")).status is StepStatus.DISCARDED
        assert await store.get_messages("t") == [USER, message, tool]

        # Cancelling refuses the run's output at once; only the finishing writes still land.
        await store.begin_step("t", "r", "r.m2", 1)
        await store.request_cancel("t", "r")
        with pytest.raises(RunOver):
            await store.append("t", "r", [labelled("more")], key="r.m2.1:0", attempt=StepAttempt("r.m2", 1))
        with pytest.raises(RunOver):
            await store.commit_step("t", "r", "r.m2", result={}, events=[], messages=[], attempt=1)
        assert [s.step_id for s in await store.open_steps("t", "r")] == ["r.m2"]
        assert len(await store.discard_step("t", "r", "r.m2", 1, [labelled("closing")])) == 1
        assert len(await store.finish_run("t", "r", RunStatus.CANCELLED, finished())) == 1
        assert [e.seq for e in await store.read("t", after=0)] == list(range(1, 10))
        with pytest.raises(RunOver):
            await store.append("t", "r", [labelled("after the end")])

    on_store(backend, test)


def test_events_past_retention_are_gone_and_an_older_cursor_is_expired(backend: Backend) -> None:
    clock = FakeClock()

    async def test(store: EventStore) -> None:
        await new_thread(store)  # 1
        await store.append("t", "r", [labelled("old"), labelled("old")])  # 2, 3
        clock.now += 40
        await store.append("t", "r", [labelled("newer")])  # 4
        clock.now += 30  # 1-3 are 70 s old now, 4 is 30 s old: the next write drops 1-3
        assert (await store.head("t")).floor == 0
        await store.append("t", "r", [labelled("now")])  # 5

        head = await store.head("t")
        assert head.floor == 3 and head.last_seq == 5
        for cursor in (0, 1, 2):
            with pytest.raises(CursorExpired) as expired:
                await store.read("t", after=cursor)
            assert expired.value.status_code == 410 and expired.value.code == "cursor_expired"
        assert [e.seq for e in await store.read("t", after=3)] == [4, 5]
        assert [e.body()["value"] for e in await store.read("t", after=4)] == ["now"]

        clock.now += 100  # everything is past retention; a write keeps only itself
        await store.finish_run("t", "r", RunStatus.SUCCEEDED, finished())
        assert (await store.head("t")).floor == 5
        assert [e.seq for e in await store.read("t", after=5)] == [6]
        with pytest.raises(CursorExpired):
            await store.read("t", after=4)
        # The conversation and the runs are not events: they stay with the thread.
        assert await store.get_messages("t") == [USER]
        assert (await store.get_run("t", "r")).status is RunStatus.SUCCEEDED

    on_store(backend, test, retention=60, clock=clock)


def test_purge_deletes_idle_threads_whole_and_names_their_runs(backend: Backend) -> None:
    clock = FakeClock()

    async def test(store: EventStore) -> None:
        await new_thread(store, "idle", "r1")
        await store.finish_run("idle", "r1", RunStatus.SUCCEEDED, finished("r1"))
        await store.start_run("idle", "r2", [labelled("again")], [], create=False, agent="default")
        await store.finish_run("idle", "r2", RunStatus.SUCCEEDED, finished("r2"))
        clock.now += 100
        await new_thread(store, "busy", "r3")
        cutoff = clock.now - 50

        purged = await store.purge_idle_threads(cutoff)
        assert [(p.thread_id, sorted(p.run_ids)) for p in purged] == [("idle", ["r1", "r2"])]
        assert await store.head("idle") is None and await store.get_thread("idle") is None
        assert await store.read("idle", after=0) == [] and await store.get_messages("idle") == []
        assert await store.get_run("idle", "r1") is None
        assert (await store.head("busy")).last_seq == 1
        assert await store.purge_idle_threads(cutoff) == []
        # A purged thread id can start over from seq 1.
        await new_thread(store, "idle", "r4")
        assert [e.seq for e in await store.read("idle", after=0)] == [1]

    on_store(backend, test, retention=60, clock=clock)


def test_the_store_going_away_fails_fast_and_keeps_every_acknowledged_write_whole(backend: Backend) -> None:
    env = backend.new_env()

    async def test(store: EventStore) -> None:
        await new_thread(store)
        acknowledged = 1
        for n in range(5):
            acknowledged += len(await store.append("t", "r", [labelled(f"{n}.{i}") for i in range(3)], key=f"k{n}"))
        with backend.outage(env):
            begin = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.append("t", "r", [labelled("x.0"), labelled("x.1"), labelled("x.2")], key="kx")
            with pytest.raises(StoreUnavailable):
                await store.finish_run("t", "r", RunStatus.FAILED, finished())
            if backend.reads_during_outage:
                assert len(await store.read("t", after=0)) == acknowledged
            else:
                with pytest.raises(StoreUnavailable):
                    await store.ping()
                with pytest.raises(StoreUnavailable):
                    await store.head("t")
            assert time.monotonic() - begin < 15
        await store.ping()
        # The refused batch landed whole or not at all; a retry with its key settles which, once.
        retried = await store.append("t", "r", [labelled("x.0"), labelled("x.1"), labelled("x.2")], key="kx")
        envelopes = await store.read("t", after=0)
        assert [e.seq for e in envelopes] == list(range(1, acknowledged + 4))
        assert envelopes[-3:] == retried
        assert [e.body()["value"] for e in envelopes[acknowledged - 3 :]] == ["4.0", "4.1", "4.2", "x.0", "x.1", "x.2"]
        assert len(await store.finish_run("t", "r", RunStatus.SUCCEEDED, finished())) == 1

    on_store(backend, test, env=env)
