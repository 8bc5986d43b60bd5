"""Retention in the Table store: old event pages trimmed inside a thread's writes, and idle threads
purged through the threads index (one row per thread with a lower bound of its last write)."""

from __future__ import annotations

import contextlib
import dataclasses

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from .base import PurgedThread
from .table_heads import HeadCache
from .table_layout import EVENTS_LAST, HEAD, RUNS_FIRST, Entity, as_int, chunk_key, page_key, seq_of_page
from .table_session import Clients
from .table_transaction import IF_MATCH, HeadRow, Transaction, etag_of

# Rows a write may delete for retention on top of its own: a transaction holds at most 100.
_TRIM_BUDGET = 80
_PURGE_BATCH = 100
_INDEX_ROW = "thread"


async def trim(tx: Transaction, *, now: float, retention: float) -> None:
    """Delete, in this write's transaction, the thread's events past retention (as SQLite does).

    Whole pages go, oldest first, with their chunks and keys, as many as one transaction holds;
    the next write goes on. A page is only looked for once the oldest one kept is past
    retention by 1% of it, so a thread that stays busy does not query on every write.
    """
    assert tx.next is not None
    cutoff = now - retention
    if tx.next.oldest is None or tx.next.oldest >= cutoff - retention / 100:
        return
    pages = tx.table.query_entities(
        "PartitionKey eq @p and RowKey ge @first and RowKey le @last",
        parameters={"p": tx.thread_id, "first": page_key(1), "last": EVENTS_LAST},
        select=["RowKey", "ts", "key", "chunk_id", "chunks"],
        results_per_page=_TRIM_BUDGET,
    )
    floor, oldest, budget = tx.next.floor, None, _TRIM_BUDGET
    async for page in pages:
        rows = 1 + (as_int(page["chunks"]) if page.get("chunk_id") else 0) + (1 if page.get("key") else 0)
        if page["ts"] >= cutoff or rows > budget:
            oldest = page["ts"]
            break
        budget -= rows
        tx.delete(page["RowKey"])
        if page.get("key"):
            tx.delete(page["key"])
        for part in range(as_int(page["chunks"]) if page.get("chunk_id") else 0):
            tx.delete(chunk_key(page["chunk_id"], part))
        floor = seq_of_page(page["RowKey"])
    if oldest is None and tx.next.last_seq > floor:
        oldest = tx.next.updated  # only this write's own page is left
    tx.next = dataclasses.replace(tx.next, floor=floor, oldest=oldest)


def index_row(thread_id: str, updated: float) -> Entity:
    """The thread's row in the purge's index."""
    return {"PartitionKey": thread_id, "RowKey": _INDEX_ROW, "updated": updated}


async def purge(clients: Clients, heads: HeadCache, idle_before: float) -> list[PurgedThread]:
    purged = []
    # The index holds a time no later than each thread's last write; the head says if it is idle.
    candidates = clients.threads.query_entities(
        "updated lt @before", parameters={"before": idle_before}, select=["PartitionKey"]
    )
    for thread_id in [row["PartitionKey"] async for row in candidates]:
        thread = await _purge_thread(clients, heads, thread_id, idle_before)
        if thread is not None:
            purged.append(thread)
    return purged


async def _purge_thread(clients: Clients, heads: HeadCache, thread_id: str, idle_before: float) -> PurgedThread | None:
    events, threads = clients.events, clients.threads
    row = await Transaction(events, thread_id, None).row(HEAD)
    if row is None:
        await _delete_quietly(threads, thread_id, _INDEX_ROW)
        return None
    head = HeadRow.of(row)
    if not head.purging:
        if head.updated >= idle_before:
            await threads.upsert_entity(index_row(thread_id, head.updated), mode=UpdateMode.REPLACE)
            return None
        # Fence the thread first: a write that raced in fails its If-Match, then finds no thread.
        tombstone = {**dataclasses.replace(head, purging=True).entity(thread_id)}
        try:
            await events.update_entity(tombstone, mode=UpdateMode.REPLACE, etag=etag_of(row), match_condition=IF_MATCH)
        except ResourceModifiedError:
            return None  # written since we looked: not idle
    heads.forget(thread_id)
    rows = events.query_entities(
        "PartitionKey eq @p", parameters={"p": thread_id}, select=["RowKey", "run_id", "start"]
    )
    keys, runs = [], []
    async for entity in rows:
        if entity["RowKey"] != HEAD:
            keys.append(entity["RowKey"])
        if entity["RowKey"].startswith(RUNS_FIRST) and entity["RowKey"] != HEAD:
            runs.append((as_int(entity["start"]), entity["run_id"]))
    for i in range(0, len(keys), _PURGE_BATCH):
        batch = keys[i : i + _PURGE_BATCH]
        await events.submit_transaction([("delete", {"PartitionKey": thread_id, "RowKey": k}) for k in batch])
    await _delete_quietly(events, thread_id, HEAD)
    await _delete_quietly(threads, thread_id, _INDEX_ROW)
    return PurgedThread(thread_id, [run_id for _, run_id in sorted(runs)])


async def _delete_quietly(table: TableClient, partition: str, row_key: str) -> None:
    with contextlib.suppress(ResourceNotFoundError):
        await table.delete_entity(partition, row_key)
