"""The Azure Table Storage event store: one partition per thread, one transaction per write.

Every write is one entity-group transaction on the thread's head row under If-Match (the loop that
retries lost races: `table_writes`), so seqs stay contiguous across processes and hosts, and a
write's events, messages, usage and step result land together or not at all. Rows and payload
encoding: see `table_layout`; clients: `table_session`; retention and purge: `table_retention`.

Anything the cached head (`table_heads`) would make us refuse is checked again against a fresh read.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient

from ...exceptions import (
    AgentMismatch,
    CancelRequested,
    CursorExpired,
    RunAlreadyActive,
    RunOver,
    StepSuperseded,
    StoreUnavailable,
    ThreadNotFound,
)
from ..events import Envelope, NewEvent
from .base import (
    DEFAULT_RETENTION,
    ActiveRun,
    Clock,
    EventStore,
    PurgedThread,
    RunInfo,
    RunStatus,
    StepAttempt,
    StepRecord,
    StepStatus,
    ThreadHead,
    ThreadInfo,
)
from .table_chunks import read_payload, upload
from .table_connection import TableAccount
from .table_heads import HeadCache
from .table_layout import (
    HEAD,
    MESSAGES_FIRST,
    MESSAGES_LAST,
    RUNS_FIRST,
    RUNS_LAST,
    STEPS_FIRST,
    STEPS_LAST,
    Entity,
    Payload,
    append_key,
    as_int,
    check_id,
    decode_events,
    encode_events,
    int64,
    message_key,
    pack_payload,
    page_key,
    run_entity,
    run_info,
    run_key,
    step_entity,
    step_key,
)
from .table_retention import index_row, purge, trim
from .table_session import TableSession
from .table_transaction import HeadRow, Transaction
from .table_writes import WriteLoop

if TYPE_CHECKING:
    from ...config import Settings

T = TypeVar("T")


class TableEventStore(EventStore):
    backend = "table"

    def __init__(
        self,
        account: TableAccount,
        *,
        prefix: str = "agentstream",
        retention: float = DEFAULT_RETENTION,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(retention=retention, clock=clock)
        self.account = account
        self.events_table = f"{prefix}events"
        # One row per thread with (a lower bound of) its last write, so the purge need not scan events.
        self.threads_table = f"{prefix}threads"
        self._session = TableSession(account, self.events_table, self.threads_table)
        self._heads = HeadCache()
        self._writes = WriteLoop(self._session, self._heads, self._trim)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> TableEventStore:
        return cls(
            TableAccount.from_settings(settings),
            prefix=settings.event_table_prefix,
            retention=settings.event_retention,
            clock=clock,
        )

    # -- plumbing ---------------------------------------------------------------------------

    async def _table(self) -> TableClient:
        return await self._session.events()

    def _reaching(self) -> contextlib.AbstractContextManager[None]:
        return self._session.reaching()

    async def _write(self, thread_id: str, plan: Callable[[Transaction], Awaitable[T]]) -> T:
        return await self._writes.write(thread_id, plan)

    async def _trim(self, tx: Transaction) -> None:
        await trim(tx, now=self._clock(), retention=self.retention)

    async def _upload(self, thread_id: str, *payloads: Payload) -> None:
        """Write the chunk rows of large payloads, before the transaction that refers to them."""
        check_id(thread_id, "thread id")
        if not any(payload.chunks for payload in payloads):
            return
        table = await self._table()
        with self._reaching():
            await upload(table, payloads)

    async def _index(self, thread_id: str) -> None:
        """Put the thread in the purge's index, as written now: the index may be behind, never ahead."""
        clients = await self._session.clients()
        with self._reaching():
            await clients.threads.upsert_entity(index_row(thread_id, self._clock()), mode=UpdateMode.REPLACE)

    async def _check_run(self, tx: Transaction, head: HeadRow | None, run_id: str, *, finishing: bool = False) -> None:
        if head is not None and head.active_run_id == run_id:
            if head.cancelling and not finishing:
                raise RunOver(f"Run '{run_id}' is cancelling.")
            return
        # A run that is not the thread's active one is over, if it exists at all.
        run = await tx.row(run_key(run_id))
        if run is not None:
            raise RunOver(f"Run '{run_id}' is {run['status']}.")

    def _add_events(
        self, tx: Transaction, head: HeadRow, run_id: str, events: list[NewEvent], page: Payload, key: str | None = None
    ) -> list[Envelope]:
        now = self._clock()
        first = head.last_seq + 1
        envelopes = [Envelope(first + i, run_id, now, e.type, e.data) for i, e in enumerate(events)]
        if envelopes:
            tx.create(
                {
                    "PartitionKey": tx.thread_id,
                    "RowKey": page_key(envelopes[-1].seq),
                    "first": int64(first),
                    "run": run_id,
                    "ts": now,
                    # Retention deletes the key with the events it appended.
                    "key": key,
                    **page.properties,
                }
            )
        base = tx.next or head
        oldest = base.oldest if base.oldest is not None or not envelopes else now
        tx.next = dataclasses.replace(base, last_seq=head.last_seq + len(envelopes), updated=now, oldest=oldest)
        tx.appended = True
        return envelopes

    @staticmethod
    def _add_messages(tx: Transaction, messages: Payload | None, count: int) -> None:
        assert tx.next is not None
        if messages is None or count == 0:
            return
        tx.create({"PartitionKey": tx.thread_id, "RowKey": message_key(tx.next.messages), **messages.properties})
        tx.next = dataclasses.replace(tx.next, messages=tx.next.messages + count)

    @staticmethod
    def _check_current(tx: Transaction, step_id: str, attempt: int, step: TableEntity | None) -> None:
        if (step_id, attempt) in tx.verified:
            return
        if step is None or step["status"] != StepStatus.STARTED.value or as_int(step["attempt"]) != attempt:
            raise StepSuperseded(f"Attempt {attempt} of step '{step_id}' is no longer current.")
        # An empty merge with If-Match: the transaction fails if the step changed since we read it.
        tx.merge(step, {})
        tx.verified.add((step_id, attempt))

    # -- the interface ------------------------------------------------------------------------

    async def ping(self) -> None:
        table = await self._table()
        with self._reaching(), contextlib.suppress(ResourceNotFoundError):
            await table.get_entity("ping", HEAD)

    async def start_run(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        *,
        create: bool,
        agent: str,
    ) -> list[Envelope]:
        check_id(run_id, "run id")
        page = pack_payload(thread_id, encode_events(events))
        packed = pack_payload(thread_id, _json_bytes(messages)) if messages else None
        # A new thread enters the purge's index before it exists: a crash in between leaves an index
        # row the purge drops, never a thread it cannot find.
        await asyncio.gather(
            self._upload(thread_id, page, *([packed] if packed else [])), self._index(thread_id) if create else _none()
        )

        async def plan(tx: Transaction) -> list[Envelope]:
            head, existing = await asyncio.gather(tx.head(), tx.row(run_key(run_id)))
            now = self._clock()
            if tx.purging:
                raise StoreUnavailable(f"Thread '{thread_id}' is being deleted for retention; retry shortly.")
            if head is None:
                if not create:
                    raise ThreadNotFound(thread_id)
                head = HeadRow(now, now, 0, None, False, 0)
            elif head.agent is not None and head.agent != agent:
                raise AgentMismatch(thread_id, head.agent, agent)
            elif head.active_run_id is not None:
                raise RunAlreadyActive(thread_id, head.active_run_id)
            if existing is not None:
                raise RunOver(f"Run '{run_id}' already ran on thread '{thread_id}'.")
            tx.create(
                run_entity(
                    tx.thread_id, RunInfo(run_id, RunStatus.RUNNING, now, None, head.last_seq + 1, None, {}, None)
                )
            )
            # Records the owner of a new thread, and claims one stored before threads had owners.
            tx.next = dataclasses.replace(head, active_run_id=run_id, cancelling=False, agent=agent)
            envelopes = self._add_events(tx, head, run_id, events, page)
            self._add_messages(tx, packed, len(messages))
            return envelopes

        return self._committed(thread_id, await self._write(thread_id, plan))

    async def append(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        *,
        key: str | None = None,
        attempt: StepAttempt | None = None,
    ) -> list[Envelope]:
        page = pack_payload(thread_id, encode_events(events))
        await self._upload(thread_id, page)

        async def plan(tx: Transaction) -> list[Envelope]:
            needs_step = attempt is not None and (attempt.step_id, attempt.attempt) not in tx.verified
            # With a cached head a used key shows up as a conflict, and the retry reads it.
            reads_key = key is not None and tx.cached is None
            head, step, seen = await asyncio.gather(
                tx.head(),
                tx.row(step_key(attempt.step_id)) if attempt is not None and needs_step else _none(),
                tx.row(append_key(key)) if key is not None and reads_key else _none(),
            )
            if attempt is not None:
                self._check_current(tx, attempt.step_id, attempt.attempt, step)
            await self._check_run(tx, head, run_id)
            if seen is not None:
                tx.ops.clear()
                return await self._read(
                    tx.table, thread_id, as_int(seen["first"]) - 1, as_int(seen["count"]), expiring=False
                )
            if head is None:
                raise ThreadNotFound(thread_id)
            envelopes = self._add_events(tx, head, run_id, events, page, append_key(key) if key else None)
            if key is not None:
                tx.create(
                    {
                        "PartitionKey": thread_id,
                        "RowKey": append_key(key),
                        "first": int64(head.last_seq + 1),
                        "count": len(events),
                    }
                )
            return envelopes

        return self._committed(thread_id, await self._write(thread_id, plan))

    async def read(self, thread_id: str, *, after: int, limit: int = 1000) -> list[Envelope]:
        check_id(thread_id, "thread id")
        table = await self._table()
        with self._reaching():
            return await self._read(table, thread_id, after, limit)

    async def _read(
        self, table: TableClient, thread_id: str, after: int, limit: int, *, expiring: bool = True
    ) -> list[Envelope]:
        envelopes: list[Envelope] = []
        if limit <= 0:
            return envelopes
        # A page is keyed by its last seq, so the first page at or after `after + 1` holds it. The
        # head sorts right after the pages: a read that reaches the end also brings the floor.
        rows = table.query_entities(
            "PartitionKey eq @p and RowKey ge @first and RowKey le @last",
            parameters={"p": thread_id, "first": page_key(after + 1), "last": HEAD},
            results_per_page=min(limit, 1000) + 1,
        )
        head: HeadRow | None = None
        found = False
        async for page in rows:
            found = True
            if page["RowKey"] == HEAD:
                head = HeadRow.of(page)
                break
            first, run_id, ts = as_int(page["first"]), page["run"], page["ts"]
            records = decode_events(await read_payload(table, thread_id, page))
            envelopes += [
                Envelope(first + i, run_id, ts, kind, data)
                for i, (kind, data) in enumerate(records)
                if first + i > after
            ]
            if len(envelopes) >= limit:
                break
        if head is not None and head.purging:
            return []  # the purge deletes it, oldest rows first
        if expiring and found and (not envelopes or envelopes[0].seq != after + 1):
            if head is None:
                fetch = Transaction(table, thread_id, None)
                head = await fetch.head()
                if fetch.purging:
                    return []
            if head is not None and after < head.floor:
                raise CursorExpired(thread_id, after, head.floor)
        return envelopes[:limit]

    async def head(self, thread_id: str) -> ThreadHead | None:
        head = await self._fresh_head(thread_id)
        return (
            None if head is None else ThreadHead(thread_id, head.last_seq, head.active_run_id, head.floor, head.agent)
        )

    async def _fresh_head(self, thread_id: str) -> HeadRow | None:
        check_id(thread_id, "thread id")
        table = await self._table()
        with self._reaching():
            return await Transaction(table, thread_id, None).head()

    async def get_thread(self, thread_id: str) -> ThreadInfo | None:
        check_id(thread_id, "thread id")
        table = await self._table()
        with self._reaching():
            head, runs = await asyncio.gather(
                Transaction(table, thread_id, None).head(), self._query(table, thread_id, RUNS_FIRST, RUNS_LAST)
            )
        if head is None:
            return None
        infos = sorted((run_info(r) for r in runs), key=lambda r: r.start_seq)
        return ThreadInfo(thread_id, head.created, head.updated, head.last_seq, head.active_run_id, infos, head.agent)

    async def _query(self, table: TableClient, thread_id: str, first: str, last: str, where: str = "") -> list[Entity]:
        rows = table.query_entities(
            f"PartitionKey eq @p and RowKey ge @first and RowKey le @last{where}",
            parameters={"p": thread_id, "first": first, "last": last},
        )
        return [row async for row in rows]

    async def get_run(self, thread_id: str, run_id: str) -> RunInfo | None:
        check_id(thread_id, "thread id")
        key = run_key(run_id)
        table = await self._table()
        with self._reaching():
            entity = await Transaction(table, thread_id, None).row(key)
        return None if entity is None else run_info(entity)

    async def request_cancel(self, thread_id: str, run_id: str) -> RunInfo | None:
        key = run_key(run_id)

        async def plan(tx: Transaction) -> None:
            head = await tx.head()
            if head is None or head.active_run_id != run_id or head.cancelling:
                return
            run = await tx.row(key)
            assert run is not None, "a thread's active run has a row"
            tx.merge(run, {"cancel_requested": True})
            tx.next = dataclasses.replace(head, cancelling=True)

        self._heads.forget(thread_id)  # a cancel is decided on the head as it is now
        await self._write(thread_id, plan)
        return await self.get_run(thread_id, run_id)

    async def get_messages(self, thread_id: str) -> list[dict[str, Any]]:
        check_id(thread_id, "thread id")
        table = await self._table()
        messages: list[dict[str, Any]] = []
        with self._reaching():
            for page in await self._query(table, thread_id, MESSAGES_FIRST, MESSAGES_LAST):
                messages += json.loads(await read_payload(table, thread_id, page))
        return messages

    async def get_step(self, thread_id: str, step_id: str) -> StepRecord | None:
        check_id(thread_id, "thread id")
        table = await self._table()
        with self._reaching():
            entity = await Transaction(table, thread_id, None).row(step_key(step_id))
            return None if entity is None else await self._step(table, thread_id, entity)

    async def _step(self, table: TableClient, thread_id: str, entity: Entity) -> StepRecord:
        result = None
        if "size" in entity:
            result = json.loads(await read_payload(table, thread_id, entity))
        return StepRecord(
            entity["step_id"],
            entity["run"],
            StepStatus(entity["status"]),
            as_int(entity["attempt"]),
            as_int(entity["start"]),
            result,
        )

    async def open_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        check_id(thread_id, "thread id")
        table = await self._table()
        with self._reaching():
            rows = table.query_entities(
                "PartitionKey eq @p and RowKey ge @first and RowKey le @last and run eq @run and status eq @status",
                parameters={
                    "p": thread_id,
                    "first": STEPS_FIRST,
                    "last": STEPS_LAST,
                    "run": run_id,
                    "status": StepStatus.STARTED.value,
                },
            )
            return [await self._step(table, thread_id, row) async for row in rows]

    async def begin_step(self, thread_id: str, run_id: str, step_id: str, attempt: int) -> StepRecord:
        key = step_key(step_id)

        async def plan(tx: Transaction) -> StepRecord:
            head, step = await asyncio.gather(tx.head(), tx.row(key))
            if head is None:
                raise ThreadNotFound(thread_id)
            record = StepRecord(step_id, run_id, StepStatus.STARTED, attempt, head.last_seq)
            entity = step_entity(thread_id, record)
            if step is None:
                tx.create(entity)
            else:
                tx.replace(step, entity)
            tx.next = head  # unchanged, but written: its new ETag fences the attempt it replaces
            # The attempt this write starts is current for as long as the head it leaves is.
            tx.verified = {v for v in tx.verified if v[0] != step_id} | {(step_id, attempt)}
            return record

        return await self._write(thread_id, plan)

    async def discard_step(
        self, thread_id: str, run_id: str, step_id: str, attempt: int, events: list[NewEvent]
    ) -> list[Envelope]:
        key = step_key(step_id)
        page = pack_payload(thread_id, encode_events(events))
        await self._upload(thread_id, page)

        async def plan(tx: Transaction) -> list[Envelope]:
            head, step = await asyncio.gather(tx.head(), tx.row(key))
            if step is None or step["status"] != StepStatus.STARTED.value or as_int(step["attempt"]) != attempt:
                return []
            tx.merge(step, {"status": StepStatus.DISCARDED.value})
            await self._check_run(tx, head, run_id, finishing=True)
            if head is None:
                raise ThreadNotFound(thread_id)
            tx.verified = {v for v in tx.verified if v[0] != step_id}
            return self._add_events(tx, head, run_id, events, page)

        return self._committed(thread_id, await self._write(thread_id, plan))

    async def commit_step(
        self,
        thread_id: str,
        run_id: str,
        step_id: str,
        *,
        result: Any,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        usage: dict[str, int] | None = None,
        attempt: int | None = None,
    ) -> list[Envelope]:
        key = step_key(step_id)
        page = pack_payload(thread_id, encode_events(events))
        packed = pack_payload(thread_id, _json_bytes(messages)) if messages else None
        stored_result = pack_payload(thread_id, json.dumps(result).encode())
        await self._upload(thread_id, page, stored_result, *([packed] if packed else []))

        async def plan(tx: Transaction) -> list[Envelope]:
            head, step, run = await asyncio.gather(
                tx.head(), tx.row(key), tx.row(run_key(run_id)) if usage else _none()
            )
            if step is not None and step["status"] == StepStatus.COMMITTED.value:
                return []
            if attempt is not None:
                tx.verified.discard((step_id, attempt))
                self._check_current(tx, step_id, attempt, step)
                tx.ops.clear()  # the step's own update below carries the If-Match
            await self._check_run(tx, head, run_id)
            if head is None:
                raise ThreadNotFound(thread_id)
            envelopes = self._add_events(tx, head, run_id, events, page)
            record = StepRecord(
                step_id,
                step["run"] if step is not None else run_id,
                StepStatus.COMMITTED,
                as_int(step["attempt"]) if step is not None else 1,
                as_int(step["start"]) if step is not None else (envelopes[0].seq - 1 if envelopes else 0),
            )
            entity = {**step_entity(thread_id, record), **stored_result.properties}
            if step is None:
                tx.create(entity)
            else:
                tx.replace(step, entity)
            self._add_messages(tx, packed, len(messages))
            if usage and run is not None:
                total = json.loads(run.get("usage") or "{}")
                for name, value in usage.items():
                    total[name] = total.get(name, 0) + value
                tx.merge(run, {"usage": json.dumps(total)})
            tx.verified = {v for v in tx.verified if v[0] != step_id}
            return envelopes

        return self._committed(thread_id, await self._write(thread_id, plan))

    async def finish_run(
        self,
        thread_id: str,
        run_id: str,
        status: RunStatus,
        events: list[NewEvent],
        *,
        error: dict[str, str] | None = None,
    ) -> list[Envelope]:
        key = run_key(run_id)
        page = pack_payload(thread_id, encode_events(events))
        await self._upload(thread_id, page)

        async def plan(tx: Transaction) -> list[Envelope]:
            head, run = await asyncio.gather(tx.head(), tx.row(key))
            if run is None or run["status"] != RunStatus.RUNNING.value:
                return []
            await self._check_run(tx, head, run_id, finishing=True)
            if head is None:
                raise ThreadNotFound(thread_id)
            # The head carries the flag under If-Match: a cancel that lands first fails this write's match.
            if head.active_run_id == run_id and head.cancelling and status is not RunStatus.CANCELLED:
                raise CancelRequested(f"Run '{run_id}' is cancelling: it can only end cancelled.")
            envelopes = self._add_events(tx, head, run_id, events, page)
            info = dataclasses.replace(
                run_info(run),
                status=status,
                finished_at=envelopes[-1].ts,
                end_seq=envelopes[-1].seq,
                error=error or None,
            )
            tx.replace(run, run_entity(thread_id, info))
            assert tx.next is not None
            if tx.next.active_run_id == run_id:
                tx.next = dataclasses.replace(tx.next, active_run_id=None, cancelling=False)
            return envelopes

        return self._committed(thread_id, await self._write(thread_id, plan))

    async def list_active_runs(self) -> list[ActiveRun]:
        table = await self._table()
        with self._reaching():
            # A scan of the head rows across partitions: fine for a timer, never on a request's path.
            heads = table.query_entities(
                "RowKey eq @head", parameters={"head": HEAD}, select=["PartitionKey", "active", "purging"]
            )
            active = [
                ActiveRun(row["PartitionKey"], row["active"])
                async for row in heads
                if row.get("active") and not row.get("purging")
            ]
        return sorted(active, key=lambda run: run.thread_id)

    async def purge_idle_threads(self, idle_before: float) -> list[PurgedThread]:
        clients = await self._session.clients()
        with self._reaching():
            return await purge(clients, self._heads, idle_before)

    async def close(self) -> None:
        self._heads.clear()
        await self._session.close()


async def _none() -> None:
    return None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
