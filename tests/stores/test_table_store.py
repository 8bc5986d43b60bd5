"""What only the Table Storage store has to get right: Table's limits and keys, its cached head,
retention in bounded transactions, and a purge cut off midway. On the suite's real Azurite."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ag_ui.core import CustomEvent
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from agentstream.config import Settings
from agentstream.exceptions import ConfigError, CursorExpired, InvalidRequest, StepSuperseded, StoreUnavailable
from agentstream.log.events import NewEvent
from agentstream.log.stores.base import RunStatus, StepAttempt
from agentstream.log.stores.table import TableEventStore
from agentstream.log.stores.table_connection import TableAccount
from tests.stores.backends import Backend, TableBackend

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TableBackend]:
    """The suite's table backend: a real Azurite for this module."""
    backend = TableBackend(tmp_path_factory.mktemp("table"))
    backend.start()
    yield backend
    backend.stop()


def labelled(label: Any) -> NewEvent:
    return NewEvent.of(CustomEvent(name="test", value=label))


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def on_stores(backend: Backend, count: int, test: Any, **options: Any) -> Any:
    """Run `test` with `count` stores on one fresh namespace: as many hosts sharing one account."""
    env = backend.new_env()

    async def main() -> Any:
        stores = [backend.open_store(env, **options) for _ in range(count)]
        try:
            return await test(*stores)
        finally:
            for store in stores:
                await store.close()

    return asyncio.run(main())


async def new_thread(store: TableEventStore, thread_id: str = "t") -> None:
    await store.start_run(
        thread_id, "r", [labelled("start")], [{"id": "u", "role": "user", "content": "x"}], create=True, agent="default"
    )


async def rows(store: TableEventStore, thread_id: str = "t") -> list[dict[str, Any]]:
    assert store.account.connection_string is not None
    async with TableClient.from_connection_string(store.account.connection_string, store.events_table) as table:
        return [dict(row) async for row in table.query_entities("PartitionKey eq @p", parameters={"p": thread_id})]


def test_a_cached_head_never_lets_another_hosts_change_through(table: TableBackend) -> None:
    async def test(here: TableEventStore, there: TableEventStore) -> None:
        await new_thread(here)
        # A call id from a model may hold characters Table keys refuse: step ids are escaped.
        step_id = "r.t0.call/1#?\u00e9"
        await here.begin_step("t", "r", step_id, 1)
        await here.append("t", "r", [labelled("a")], key="k1", attempt=StepAttempt(step_id, 1))
        # The other host's view is older than this store's writes: its duplicate lands nowhere.
        assert [e.seq for e in await there.append("t", "r", [labelled("a")], key="k1")] == [2]
        # It starts attempt 2; attempt 1, writing from its cached head, must be refused.
        await there.begin_step("t", "r", step_id, 2)
        with pytest.raises(StepSuperseded):
            await here.append("t", "r", [labelled("b")], key="k2", attempt=StepAttempt(step_id, 1))
        await there.request_cancel("t", "r")
        assert [e.seq for e in await here.finish_run("t", "r", RunStatus.CANCELLED, [labelled("end")])] == [3]
        assert (await there.head("t")).last_seq == 3

    on_stores(table, 2, test)


def test_large_events_and_batches_read_back_byte_identical_within_tables_limits(table: TableBackend) -> None:
    big = "é" + "\U0001f600" * (MiB // 2) + "x"  # 2 MiB of UTF-8 that no 64 KiB cut respects
    batch = [labelled(f"{n}:" + "y" * (n % 50)) for n in range(300)]
    # 5 MiB in one append: more chunk rows than one transaction carries.
    huge = [NewEvent("CUSTOM", json.dumps({"n": n, "pad": "z" * (MiB + n)})) for n in range(5)]

    async def test(store: TableEventStore) -> None:
        await new_thread(store)
        await store.append("t", "r", batch, key="batch")
        await store.append("t", "r", huge, key="huge")
        await store.commit_step(
            "t", "r", "r.t0.c", result={"content": big}, events=[], messages=[{"id": "t", "content": big}]
        )
        envelopes = await store.read("t", after=0, limit=10_000)
        assert [e.seq for e in envelopes] == list(range(1, 1 + 300 + 5 + 1))
        assert [e.data for e in envelopes[1:301]] == [e.data for e in batch]
        assert [e.data for e in envelopes[301:]] == [e.data for e in huge]
        # A cursor inside a page, and a limit that ends inside one.
        assert [e.seq for e in await store.read("t", after=150, limit=7)] == list(range(151, 158))
        assert (await store.get_step("t", "r.t0.c")).result == {"content": big}
        assert (await store.get_messages("t"))[-1]["content"] == big
        # Azurite accepts rows that real Table Storage refuses, so check Table's limits here.
        for row in await rows(store):
            binary = [len(v) for v in row.values() if isinstance(v, bytes)]
            strings = [len(v.encode("utf-16-le")) for v in row.values() if isinstance(v, str)]
            assert all(size <= 64 * 1024 for size in binary + strings), row["RowKey"]
            # Binary travels as base64, which is what the service measures against 1 MiB.
            assert sum(-(-size // 3) * 4 for size in binary) + sum(strings) < MiB - 64 * 1024, row["RowKey"]

    on_stores(table, 1, test)


def test_ids_that_table_keys_cannot_hold_are_refused_and_nothing_is_written(table: TableBackend) -> None:
    async def test(store: TableEventStore) -> None:
        for bad in ("a/b", "a#b", "a?b", "a\\b", "a\x01b", "", "x" * 256):
            with pytest.raises(InvalidRequest):
                await store.start_run(bad, "r", [labelled("x")], [], create=True, agent="default")
            with pytest.raises(InvalidRequest):
                await store.start_run("ok", bad, [labelled("x")], [], create=True, agent="default")
            with pytest.raises(InvalidRequest):
                await store.read(bad, after=0)
        assert await store.head("ok") is None
        assert await rows(store, "ok") == []

    on_stores(table, 1, test)


def test_retention_deletes_pages_with_their_chunks_and_keys_a_transaction_at_a_time(table: TableBackend) -> None:
    clock = FakeClock()

    async def test(store: TableEventStore) -> None:
        await new_thread(store)
        for n in range(150):
            await store.append("t", "r", [labelled(n)], key=f"k{n}")
        await store.append("t", "r", [NewEvent("CUSTOM", json.dumps({"pad": "z" * (2 * MiB)}))], key="big")
        kinds_before = {kind: sum(r["RowKey"][0] == kind for r in await rows(store)) for kind in "eck"}
        assert kinds_before == {"e": 152, "c": 3, "k": 151}
        clock.now += 61

        floors = [0]
        while floors[-1] < 152 and len(floors) < 10:
            await store.append("t", "r", [labelled(f"late {len(floors)}")])
            floors.append((await store.head("t")).floor)
        # Each write deletes what one transaction holds, oldest first, until all that expired is gone.
        assert floors == sorted(set(floors)) and floors[-1] == 152 and len(floors) >= 4, floors
        late = len(floors) - 1
        with pytest.raises(CursorExpired):
            await store.read("t", after=151)
        assert [e.body()["value"] for e in await store.read("t", after=152)] == [
            f"late {n}" for n in range(1, late + 1)
        ]
        left = await rows(store)
        assert sorted(r["RowKey"][0] for r in left if r["RowKey"][0] in "eck") == ["e"] * late
        # A key whose events are gone is gone too: the same batch is new again.
        assert [e.seq for e in await store.append("t", "r", [labelled(0)], key="k0")] == [152 + late + 1]

    on_stores(table, 1, test, retention=60, clock=clock)


def test_a_purge_cut_off_midway_is_finished_by_the_next_and_hides_the_thread_meanwhile(table: TableBackend) -> None:
    clock = FakeClock()

    async def test(store: TableEventStore) -> None:
        await new_thread(store)
        await store.finish_run("t", "r", RunStatus.SUCCEEDED, [labelled("end")])
        # What a purge leaves when it dies after fencing the thread: the head marked as being deleted.
        assert store.account.connection_string is not None
        async with TableClient.from_connection_string(store.account.connection_string, store.events_table) as table:
            head = await table.get_entity("t", "h")
            await table.update_entity({**head, "purging": True}, mode=UpdateMode.MERGE)
        assert await store.head("t") is None and await store.get_thread("t") is None
        assert await store.read("t", after=0) == []
        with pytest.raises(StoreUnavailable):
            await new_thread(store)
        clock.now += 100
        [purged] = await store.purge_idle_threads(clock.now - 50)
        assert (purged.thread_id, purged.run_ids) == ("t", ["r"])
        assert await rows(store) == []
        await new_thread(store)
        assert [e.seq for e in await store.read("t", after=0)] == [1]

    on_stores(table, 1, test, retention=60, clock=clock)


def test_table_settings_are_read_like_the_functions_host_reads_them(table: TableBackend) -> None:
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
    local = TableAccount.from_settings(Settings.from_env(table.new_env()))
    assert local.table_uri is None and "AccountKey" not in repr(local) and "AccountKey" not in local.description
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
