"""The Table Storage store's guarantees, on a real Azurite shared by several processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import CustomEvent, RunErrorEvent
from azure.data.tables.aio import TableClient

from agentstream.config import Settings
from agentstream.events import NewEvent
from agentstream.exceptions import (
    ConfigError,
    InvalidRequest,
    RunAlreadyActive,
    RunOver,
    StepSuperseded,
    StoreUnavailable,
    ThreadNotFound,
)
from agentstream.stores.base import RunStatus, StepAttempt, StepStatus
from agentstream.stores.table import TableEventStore
from agentstream.stores.table_connection import TableAccount
from tests.azurite import Azurite

WRITERS = 4
APPENDS_PER_WRITER = 25
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(tmp_path_factory.mktemp("azurite") / "azurite.log").start()
    yield server
    server.stop()


def store_at(connection_string: str) -> TableEventStore:
    return TableEventStore(TableAccount(connection_string=connection_string), prefix="test")


def labelled(label: str) -> NewEvent:
    return NewEvent.of(CustomEvent(name="test", value=label))


async def new_thread(store: TableEventStore, thread_id: str, run_id: str = "r") -> None:
    await store.start_run(
        thread_id, run_id, [labelled("start")], [{"id": "u", "role": "user", "content": "x"}], create=True
    )


def write_from_another_process(connection_string: str, thread_id: str, writer: int) -> None:
    async def main() -> None:
        store = store_at(connection_string)
        for n in range(APPENDS_PER_WRITER):
            size = 1 + n % 3
            await store.append(thread_id, "r", [labelled(f"{writer}:{n}:{i}") for i in range(size)])
        await store.close()

    asyncio.run(main())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_appends_from_several_processes_stay_contiguous_and_atomic(azurite: Azurite) -> None:
    async def setup() -> None:
        store = store_at(azurite.connection_string)
        await new_thread(store, "procs")
        await store.close()

    run(setup())
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=write_from_another_process, args=(azurite.connection_string, "procs", w))
        for w in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0

    async def read_all() -> list[Any]:
        store = store_at(azurite.connection_string)
        envelopes = await store.read("procs", after=0, limit=100_000)
        await store.close()
        return envelopes

    envelopes = run(read_all())
    assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1))
    labels = [json.loads(e.data)["value"] for e in envelopes[1:]]
    assert len(labels) == WRITERS * sum(1 + n % 3 for n in range(APPENDS_PER_WRITER))
    for writer in range(WRITERS):
        mine = [label for label in labels if label.startswith(f"{writer}:")]
        assert mine == [f"{writer}:{n}:{i}" for n in range(APPENDS_PER_WRITER) for i in range(1 + n % 3)]
    # Each append's events sit next to each other: no other writer slipped in between.
    for index, label in enumerate(labels):
        writer, n, i = label.split(":")
        if int(i) > 0:
            assert labels[index - 1] == f"{writer}:{n}:{int(i) - 1}"


def test_concurrent_appends_in_one_process_stay_contiguous(azurite: Azurite) -> None:
    async def main() -> list[int]:
        store = store_at(azurite.connection_string)
        await new_thread(store, "gather")
        await asyncio.gather(*(store.append("gather", "r", [labelled(str(n))] * 2) for n in range(30)))
        seqs = [e.seq for e in await store.read("gather", after=0)]
        await store.close()
        return seqs

    assert run(main()) == list(range(1, 62))


def test_an_append_key_lands_once_even_from_another_writer(azurite: Azurite) -> None:
    async def main() -> None:
        store, other = store_at(azurite.connection_string), store_at(azurite.connection_string)
        await new_thread(store, "keys")
        first = await store.append("keys", "r", [labelled("a"), labelled("b")], key="step.1:0")
        again = await store.append("keys", "r", [labelled("a"), labelled("b")], key="step.1:0")
        # The other writer's cached view of the thread is older: its duplicate must still land nowhere.
        await other.head("keys")
        elsewhere = await other.append("keys", "r", [labelled("a"), labelled("b")], key="step.1:0")
        assert [e.seq for e in again] == [e.seq for e in elsewhere] == [e.seq for e in first] == [2, 3]
        assert [e.data for e in elsewhere] == [e.data for e in first]
        assert (await store.head("keys")).last_seq == 3
        await store.close()
        await other.close()

    run(main())


def test_runs_one_at_a_time_and_finish_once(azurite: Azurite) -> None:
    async def main() -> None:
        store = store_at(azurite.connection_string)
        await new_thread(store, "runs")
        with pytest.raises(RunAlreadyActive):
            await store.start_run("runs", "r2", [labelled("x")], [], create=False)
        with pytest.raises(ThreadNotFound):
            await store.start_run("nope", "r3", [labelled("x")], [], create=False)
        error = NewEvent.of(RunErrorEvent(message="boom", code="model_error"))
        assert len(await store.finish_run("runs", "r", RunStatus.FAILED, [error], error={"code": "model_error"})) == 1
        assert await store.finish_run("runs", "r", RunStatus.FAILED, [error]) == []
        with pytest.raises(RunOver):
            await store.append("runs", "r", [labelled("late")])
        head = await store.head("runs")
        assert head.active_run_id is None and head.last_seq == 2
        run_info = await store.get_run("runs", "r")
        assert (
            run_info.status is RunStatus.FAILED and run_info.end_seq == 2 and run_info.error == {"code": "model_error"}
        )
        await store.start_run(
            "runs", "r2", [labelled("x")], [{"id": "u2", "role": "user", "content": "y"}], create=False
        )
        thread = await store.get_thread("runs")
        assert [r.run_id for r in thread.runs] == ["r", "r2"] and thread.active_run_id == "r2"
        assert [r.start_seq for r in thread.runs] == [1, 3] and thread.last_seq == 3
        assert [m["id"] for m in await store.get_messages("runs")] == ["u", "u2"]
        await store.close()

    run(main())


def test_a_step_commits_once_with_its_messages_and_usage(azurite: Azurite) -> None:
    async def main() -> None:
        store = store_at(azurite.connection_string)
        await new_thread(store, "steps")
        await store.begin_step("steps", "r", "r.m0", 1)
        assert [s.step_id for s in await store.open_steps("steps", "r")] == ["r.m0"]
        message = {"id": "m", "role": "assistant", "content": "hi"}
        for _ in range(2):
            await store.commit_step(
                "steps",
                "r",
                "r.m0",
                result={"toolCalls": []},
                events=[labelled("end")],
                messages=[message],
                usage={"outputTokens": 5},
                attempt=1,
            )
        step = await store.get_step("steps", "r.m0")
        assert step.status is StepStatus.COMMITTED and step.result == {"toolCalls": []} and step.attempt == 1
        assert await store.open_steps("steps", "r") == []
        assert (await store.head("steps")).last_seq == 2
        assert [m["id"] for m in await store.get_messages("steps")] == ["u", "m"]
        assert (await store.get_run("steps", "r")).usage == {"outputTokens": 5}
        await store.close()

    run(main())


def test_a_superseded_attempt_and_a_cancelled_run_are_refused(azurite: Azurite) -> None:
    async def main() -> None:
        store, other = store_at(azurite.connection_string), store_at(azurite.connection_string)
        await new_thread(store, "fences")
        # A call id from a model may hold characters Table keys refuse.
        step_id = "r.t0.call/1#?"
        await store.begin_step("fences", "r", step_id, 1)
        await store.append("fences", "r", [labelled("a")], key="k1", attempt=StepAttempt(step_id, 1))
        # Another host starts attempt 2: this store's cached view must not let attempt 1 write on.
        await other.begin_step("fences", "r", step_id, 2)
        with pytest.raises(StepSuperseded):
            await store.append("fences", "r", [labelled("b")], key="k2", attempt=StepAttempt(step_id, 1))
        with pytest.raises(StepSuperseded):
            await store.commit_step("fences", "r", step_id, result={}, events=[], messages=[], attempt=1)
        assert len(await store.discard_step("fences", "r", step_id, 1, [labelled("closing")])) == 0
        assert len(await other.discard_step("fences", "r", step_id, 2, [labelled("closing")])) == 1
        assert (await other.get_step("fences", step_id)).status is StepStatus.DISCARDED

        cancelled = await other.request_cancel("fences", "r")
        assert cancelled.cancel_requested and cancelled.status is RunStatus.RUNNING
        with pytest.raises(RunOver):
            await store.append("fences", "r", [labelled("c")])
        finished = await store.finish_run("fences", "r", RunStatus.CANCELLED, [labelled("end")])
        assert [e.seq for e in finished] == [4]
        assert (await store.request_cancel("fences", "r")).status is RunStatus.CANCELLED
        assert await store.request_cancel("fences", "missing") is None
        await store.close()
        await other.close()

    run(main())


def test_large_events_and_batches_read_back_byte_identical(azurite: Azurite) -> None:
    big = "é" + "\U0001f600" * (MiB // 2) + "x"  # 2 MiB of UTF-8 that no 64 KiB slice boundary respects
    batch = [labelled(f"{n}:" + "y" * (n % 50)) for n in range(300)]
    huge = [NewEvent("CUSTOM", json.dumps({"n": n, "pad": "z" * (MiB + n)})) for n in range(5)]

    async def main() -> None:
        store = store_at(azurite.connection_string)
        await new_thread(store, "big")
        two_mib = NewEvent("CUSTOM", json.dumps({"type": "CUSTOM", "value": big}, ensure_ascii=False))
        assert len(two_mib.data.encode()) > 2 * MiB
        await store.append("big", "r", [two_mib])
        await store.append("big", "r", batch)
        await store.append("big", "r", huge)
        await store.commit_step(
            "big", "r", "r.t0.c", result={"content": big}, events=[], messages=[{"id": "t", "content": big}]
        )
        envelopes = await store.read("big", after=0, limit=10_000)
        assert [e.seq for e in envelopes] == list(range(1, 2 + 1 + 300 + 5))
        assert envelopes[1].data == two_mib.data
        assert [e.data for e in envelopes[2:302]] == [e.data for e in batch]
        assert [e.data for e in envelopes[302:]] == [e.data for e in huge]
        # A cursor inside a page, and a limit that ends inside one.
        assert [e.seq for e in await store.read("big", after=150, limit=7)] == list(range(151, 158))
        assert (await store.get_step("big", "r.t0.c")).result == {"content": big}
        assert (await store.get_messages("big"))[-1]["content"] == big
        await assert_rows_within_table_limits(store, "big")
        await store.close()

    run(main())


async def assert_rows_within_table_limits(store: TableEventStore, thread_id: str) -> None:
    """Azurite accepts rows real Table Storage refuses; check Table's limits here."""
    async with TableClient.from_connection_string(store.account.connection_string, store.events_table) as table:
        async for row in table.query_entities("PartitionKey eq @p", parameters={"p": thread_id}):
            sizes = [len(v) for v in row.values() if isinstance(v, bytes)]
            strings = [len(v.encode("utf-16-le")) for v in row.values() if isinstance(v, str)]
            assert all(size <= 64 * 1024 for size in sizes + strings), row["RowKey"]
            # Binary goes over the wire as base64, which is what the service measures.
            assert sum(-(-size // 3) * 4 for size in sizes) + sum(strings) < MiB - 64 * 1024, row["RowKey"]


def test_ids_that_table_keys_cannot_hold_are_refused(azurite: Azurite) -> None:
    async def main() -> None:
        store = store_at(azurite.connection_string)
        for bad in ("a/b", "a#b", "a?b", "a\\b", "a\x01b", ""):
            with pytest.raises(InvalidRequest):
                await store.start_run(bad, "r", [labelled("x")], [], create=True)
            with pytest.raises(InvalidRequest):
                await store.start_run("ok", bad, [labelled("x")], [], create=True)
        assert await store.head("ok") is None
        await store.close()

    run(main())


def test_a_store_that_went_away_is_reported_unavailable_and_recovers(tmp_path: Path) -> None:
    server = Azurite(tmp_path / "azurite.log", workspace=tmp_path / "data").start()
    try:

        async def main() -> None:
            store = store_at(server.connection_string)
            await new_thread(store, "away")
            server.stop()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.append("away", "r", [labelled("lost")], key="k")
            with pytest.raises(StoreUnavailable):
                await store.read("away", after=0)
            assert time.monotonic() - started < 30
            server.start()
            await store.append("away", "r", [labelled("kept")], key="k")
            assert [json.loads(e.data)["value"] for e in await store.read("away", after=0)] == ["start", "kept"]
            await store.close()

        run(main())
    finally:
        server.stop()


def test_table_settings_are_read_like_the_functions_host_reads_them() -> None:
    identity = Settings.from_env(
        {
            "EVENT_STORE": "table",
            "AzureWebJobsStorage__accountName": "acct",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "client",
        }
    )
    account = TableAccount.from_settings(identity)
    assert account.table_uri == "https://acct.table.core.windows.net"
    assert account.managed_identity and account.client_id == "client"
    local = TableAccount.from_settings(
        Settings.from_env({"EVENT_STORE": "table", "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    )
    assert local.table_uri is None and "AccountKey" not in repr(local)
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        Settings.from_env({"EVENT_STORE": "table"})
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__credential"):
        Settings.from_env(
            {
                "EVENT_STORE": "table",
                "AzureWebJobsStorage__tableServiceUri": "https://a",
                "AzureWebJobsStorage__credential": "x",
            }
        )
    for bad in ("1abc", "with-dash", "a" * 57):
        with pytest.raises(ConfigError, match="EVENT_TABLE_PREFIX"):
            Settings.from_env({"EVENT_TABLE_PREFIX": bad})
