"""The MESSAGES_SNAPSHOT that ends every run: stored as a reference, expanded for each reader.

Every run ends with a MESSAGES_SNAPSHOT of the thread's whole conversation before its terminal
event. Stored whole, a thread of n turns would hold, and a replay from its start would send, O(n²)
bytes. So the log keeps a reference instead, `{"type":"MESSAGES_SNAPSHOT","timestamp":T,
"messageCount":N}`: the first N messages of the thread's conversation, which the store keeps once
and only ever appends to (`EventStore.get_messages`). A reader expands it as it sends it:

- in full, a MESSAGES_SNAPSHOT with all N messages, when it is the first snapshot the response
  sends (the reader resumed inside that run or just before it), or when nothing of a later run
  is known yet (the reader watches that run live, or reached the end of the thread);
- otherwise compact, as `CUSTOM` `agentstream.messages_snapshot` with value
  `{"messageCount": N, "messages": [...]}` holding only the messages added since the snapshot the
  response sent before (the reader has the earlier ones). AG-UI clients take a MESSAGES_SNAPSHOT
  as the whole conversation, so a partial one would make them drop messages; a CUSTOM event they
  pass by.

The event keeps its seq either way, so ids stay contiguous. A replay from the start of a thread
sends each message in one snapshot plus one full snapshot at its end: linear in the thread's turns.
Expanded snapshots are cached per process (`SnapshotCache`), so readers at the same place share
one store read.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from ag_ui.core import CustomEvent, MessagesSnapshotEvent

from .events import Envelope, NewEvent, now_ms
from .stores.base import EventStore

SNAPSHOT = "MESSAGES_SNAPSHOT"
COMPACT_SNAPSHOT = "agentstream.messages_snapshot"
# Expanded snapshots kept for readers that come next (a burst of readers at a run's end).
CACHE_BYTES = 32 * 1024 * 1024


def snapshot_reference(message_count: int) -> NewEvent:
    """The stored form of a run's closing snapshot: the conversation's first `message_count` messages."""
    body = {"type": SNAPSHOT, "timestamp": now_ms(), "messageCount": message_count}
    return NewEvent(SNAPSHOT, json.dumps(body, separators=(",", ":")))


class SnapshotCache:
    """Snapshot events as sent, by thread, seq and form: what readers of one instance share."""

    def __init__(self, store: EventStore, *, max_bytes: int = CACHE_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._held: OrderedDict[tuple[str, int, float, int], str] = OrderedDict()
        self._bytes = 0
        self._pending: dict[tuple[str, int, float, int], asyncio.Future[str]] = {}

    async def expand(self, thread_id: str, envelope: Envelope, count: int, start: int) -> str:
        """The data of `envelope`'s snapshot: in full with `start` 0, else compact from message `start`."""
        # The write time is part of the key: a thread purged and started again reuses its seqs.
        key = (thread_id, envelope.seq, envelope.ts, start)
        held = self._held.get(key)
        if held is not None:
            self._held.move_to_end(key)
            return held
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._build(thread_id, envelope, count, start))
            pending.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(pending)

    async def _build(self, thread_id: str, envelope: Envelope, count: int, start: int) -> str:
        messages = await self.store.get_messages(thread_id, start=start, end=count)
        timestamp = envelope.body().get("timestamp")
        if start == 0:
            event = MessagesSnapshotEvent.model_validate({"messages": messages, "timestamp": timestamp})
            return event.model_dump_json(by_alias=True, exclude_none=True)
        value = {"messageCount": count, "messages": messages}
        return CustomEvent(name=COMPACT_SNAPSHOT, value=value, timestamp=timestamp).model_dump_json(
            by_alias=True, exclude_none=True
        )

    def _settle(self, key: tuple[str, int, float, int], done: asyncio.Future[str]) -> None:
        self._pending.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        data = done.result()
        if len(data) > self.max_bytes:
            return
        self._held[key] = data
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            _, dropped = self._held.popitem(last=False)
            self._bytes -= len(dropped)


class SnapshotExpander:
    """One response's view of the snapshots it sends: which went out, and up to which message."""

    def __init__(self, cache: SnapshotCache, thread_id: str) -> None:
        self.cache = cache
        self.thread_id = thread_id
        #: The message count of the last snapshot this response sent; None before the first.
        self.sent_through: int | None = None

    async def expand(self, batch: list[Envelope], *, caught_up: bool) -> list[Envelope]:
        """`batch` with its stored snapshots as this reader gets them. `caught_up`: nothing after
        the batch is known yet, so a snapshot with no later run's start after it is the newest."""
        if not any(e.type == SNAPSHOT for e in batch):
            return batch
        out: list[Envelope] = []
        for i, envelope in enumerate(batch):
            if envelope.type != SNAPSHOT:
                out.append(envelope)
                continue
            body: dict[str, Any] = envelope.body()
            if "messageCount" not in body:
                # Stored whole, before snapshots were references: sent as it is.
                self.sent_through = len(body.get("messages", []))
                out.append(envelope)
                continue
            count = int(body["messageCount"])
            newest = caught_up and not any(e.type == "RUN_STARTED" for e in batch[i + 1 :])
            start = 0 if self.sent_through is None or newest else min(self.sent_through, count)
            data = await self.cache.expand(self.thread_id, envelope, count, start)
            kind = SNAPSHOT if start == 0 else "CUSTOM"
            out.append(Envelope(envelope.seq, envelope.run_id, envelope.ts, kind, data))
            self.sent_through = count
        return out
