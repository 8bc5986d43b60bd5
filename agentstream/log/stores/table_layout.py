"""How a thread's log is laid out in Azure Table Storage: row keys and payload encoding.

A thread is one partition (PartitionKey = thread id), so every write to it can be one entity-group
transaction. Its rows, by RowKey:

    e{last seq, 12 digits}   one page: the events of one append, keyed by the last seq it holds
    h                        the head: last seq, active run, message count (every write updates it)
    k{append key}            a key already used, with the seqs it appended
    m{first index, 9 digits} the messages of one write
    r{run id}                a run
    s{step id}               a step
    c{chunk id}.{part}       the bytes of a payload too large to sit in the row that refers to it

Payloads (event pages, message lists, step results) are bytes in binary properties of at most
64 KiB each. Up to INLINE_BYTES sit in the row itself; a larger payload goes to chunk rows of up to
CHUNK_BYTES each (below Table's 1 MiB per entity), written before the transaction that refers to
them. A chunk nobody refers to (its writer crashed before committing) is never read, and goes
when the thread is purged.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from ...exceptions import InvalidRequest
from ..events import NewEvent
from .base import RunInfo, RunStatus, StepRecord

Entity = dict[str, Any]

PROPERTY_BYTES = 64 * 1024
INLINE_BYTES = 4 * PROPERTY_BYTES
# Table Storage measures an entity as sent, binary as base64: 704 KiB is 939 KiB on the wire, below 1 MiB.
CHUNK_BYTES = 11 * PROPERTY_BYTES
# Three full chunks are 2.8 MiB in a transaction's body, below its 4 MiB.
CHUNKS_PER_TRANSACTION = 3

HEAD = "h"
EVENTS_LAST = "e999999999999"
MESSAGES_FIRST, MESSAGES_LAST = "m", "m999999999"
RUNS_FIRST, RUNS_LAST = "r", "r~"
STEPS_FIRST, STEPS_LAST = "s", "s~"

# Table Storage refuses these in keys: / \ # ? and control characters.
_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_VERBATIM = re.compile(r"[A-Za-z0-9_.-]")
_MAX_ESCAPED = 400
_MAX_ID = 255


def check_id(value: str, what: str) -> str:
    """A thread or run id used as a key as it is: refuse what Table Storage cannot hold."""
    if not value or len(value) > _MAX_ID or _FORBIDDEN.search(value):
        raise InvalidRequest(
            f"Invalid {what} '{value[:80]}': Table Storage keys take 1-{_MAX_ID} characters "
            "and none of / \\ # ? or control characters.",
            code="invalid_id",
        )
    return value


def _escape(value: str) -> str:
    """Any string as key characters, one to one: '%XX' for every byte outside [A-Za-z0-9_.-]."""
    out = []
    for char in value:
        if _VERBATIM.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    escaped = "".join(out)
    if len(escaped) > _MAX_ESCAPED:
        # '~' never appears in an escaped value, so a hashed key cannot collide with one.
        return "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return escaped


def page_key(last_seq: int) -> str:
    return f"e{last_seq:012d}"


def seq_of_page(row_key: str) -> int:
    return int(row_key[1:13])


def message_key(first_index: int) -> str:
    return f"m{first_index:09d}"


def run_key(run_id: str) -> str:
    return "r" + check_id(run_id, "run id")


def step_key(step_id: str) -> str:
    return "s" + _escape(step_id)


def append_key(key: str) -> str:
    return "k" + _escape(key)


def chunk_key(chunk_id: str, part: int) -> str:
    return f"c{chunk_id}.{part:04d}"


def int64(value: int) -> EntityProperty:
    return EntityProperty(value, EdmType.INT64)


def as_int(value: Any) -> int:
    """An integer property as read back: Int64 values come wrapped in EntityProperty."""
    return int(value.value if isinstance(value, EntityProperty) else value)


def optional_int(value: Any) -> int | None:
    return None if value is None else as_int(value)


# -- payloads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payload:
    """Bytes ready to store: the properties for the referring row, and chunk rows if it is large."""

    properties: dict[str, Any]
    chunks: list[dict[str, Any]]


def pack_payload(thread_id: str, data: bytes) -> Payload:
    if len(data) <= INLINE_BYTES:
        return Payload({"size": len(data), **_binary_properties(data)}, [])
    chunk_id = uuid.uuid4().hex
    parts = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    chunks = [
        {"PartitionKey": thread_id, "RowKey": chunk_key(chunk_id, n), **_binary_properties(part)}
        for n, part in enumerate(parts)
    ]
    return Payload({"size": len(data), "chunk_id": chunk_id, "chunks": len(parts)}, chunks)


def _binary_properties(data: bytes) -> dict[str, bytes]:
    return {f"b{n}": data[i : i + PROPERTY_BYTES] for n, i in enumerate(range(0, len(data), PROPERTY_BYTES))}


def binary_properties(entity: dict[str, Any]) -> bytes:
    return b"".join(_iter_binary(entity))


def _iter_binary(entity: dict[str, Any]) -> Iterator[bytes]:
    n = 0
    while (part := entity.get(f"b{n}")) is not None:
        yield bytes(part)
        n += 1


def chunk_range(chunk_id: str, count: int) -> tuple[str, str]:
    return chunk_key(chunk_id, 0), chunk_key(chunk_id, count - 1)


# -- event pages ------------------------------------------------------------------------------

_RECORD = struct.Struct(">HI")


def encode_events(events: list[NewEvent]) -> bytes:
    out = bytearray()
    for event in events:
        kind = event.type.encode("utf-8", "surrogatepass")
        data = event.data.encode("utf-8", "surrogatepass")
        out += _RECORD.pack(len(kind), len(data))
        out += kind
        out += data
    return bytes(out)


def decode_events(raw: bytes) -> list[tuple[str, str]]:
    records = []
    offset = 0
    while offset < len(raw):
        kind_len, data_len = _RECORD.unpack_from(raw, offset)
        offset += _RECORD.size
        kind = raw[offset : offset + kind_len].decode("utf-8", "surrogatepass")
        offset += kind_len
        data = raw[offset : offset + data_len].decode("utf-8", "surrogatepass")
        offset += data_len
        records.append((kind, data))
    return records


# -- runs and steps ---------------------------------------------------------------------------


def run_entity(thread_id: str, run: RunInfo) -> Entity:
    return {
        "PartitionKey": thread_id,
        "RowKey": run_key(run.run_id),
        "run_id": run.run_id,
        "status": run.status.value,
        "created": run.created_at,
        "finished": run.finished_at,
        "start": int64(run.start_seq),
        "end": None if run.end_seq is None else int64(run.end_seq),
        "usage": json.dumps(run.usage),
        "error": json.dumps(run.error) if run.error else None,
        "cancel_requested": run.cancel_requested,
    }


def run_info(entity: Entity) -> RunInfo:
    return RunInfo(
        entity["run_id"],
        RunStatus(entity["status"]),
        entity["created"],
        entity.get("finished"),
        as_int(entity["start"]),
        optional_int(entity.get("end")),
        json.loads(entity.get("usage") or "{}"),
        json.loads(entity["error"]) if entity.get("error") else None,
        bool(entity.get("cancel_requested", False)),
    )


def step_entity(thread_id: str, step: StepRecord) -> Entity:
    return {
        "PartitionKey": thread_id,
        "RowKey": step_key(step.step_id),
        "step_id": step.step_id,
        "run": step.run_id,
        "status": step.status.value,
        "attempt": step.attempt,
        "start": int64(step.start_seq),
    }
