"""Payloads too large for their row: chunk rows written before the transaction that refers to them,
and read back with it."""

from __future__ import annotations

import asyncio

from azure.data.tables.aio import TableClient

from ...exceptions import StoreUnavailable
from .table_layout import CHUNKS_PER_TRANSACTION, Entity, Payload, as_int, binary_properties, chunk_range


async def upload(table: TableClient, payloads: tuple[Payload, ...]) -> None:
    chunks = [chunk for payload in payloads for chunk in payload.chunks]
    groups = [chunks[i : i + CHUNKS_PER_TRANSACTION] for i in range(0, len(chunks), CHUNKS_PER_TRANSACTION)]
    await asyncio.gather(*(table.submit_transaction([("upsert", c) for c in group]) for group in groups))


async def read_payload(table: TableClient, thread_id: str, entity: Entity) -> bytes:
    """A row's payload: its own binary properties, or its chunk rows joined."""
    chunk_id = entity.get("chunk_id")
    if chunk_id is None:
        data = binary_properties(entity)
    else:
        first, last = chunk_range(chunk_id, as_int(entity["chunks"]))
        rows = table.query_entities(
            "PartitionKey eq @p and RowKey ge @first and RowKey le @last",
            parameters={"p": thread_id, "first": first, "last": last},
        )
        data = b"".join([binary_properties(row) async for row in rows])
    if len(data) != as_int(entity["size"]):
        raise StoreUnavailable(f"Row '{entity['RowKey']}' of thread '{thread_id}' is incomplete.")
    return data
