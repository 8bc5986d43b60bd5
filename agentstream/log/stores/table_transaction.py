"""One write to a thread, as one entity-group transaction fenced by the thread's head row.

Every write replaces the head with If-Match on the ETag it read (or creates it, for a new thread),
so two writers of one thread cannot both commit on the same view of it. Any other row a write's
decision rests on is either created (which fails if it exists) or changed with If-Match too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from .table_layout import HEAD, Entity, as_int, int64

IF_MATCH = MatchConditions.IfNotModified


@dataclass(frozen=True, slots=True)
class HeadRow:
    created: float
    updated: float
    last_seq: int
    active_run_id: str | None
    cancelling: bool
    messages: int
    # The highest seq deleted for retention, and when the oldest event still kept was written.
    floor: int = 0
    oldest: float | None = None
    # Set while the purge deletes the thread: it no longer exists for anyone else.
    purging: bool = False
    # The agent the thread belongs to; None for a thread stored before threads had owners.
    agent: str | None = None
    etag: str | None = None

    @classmethod
    def of(cls, entity: TableEntity) -> HeadRow:
        return cls(
            entity["created"],
            entity["updated"],
            as_int(entity["last"]),
            entity.get("active"),
            bool(entity.get("cancelling", False)),
            as_int(entity["messages"]),
            as_int(entity.get("floor", 0)),
            entity.get("oldest"),
            bool(entity.get("purging", False)),
            entity.get("agent"),
            etag_of(entity),
        )

    def entity(self, thread_id: str) -> Entity:
        return {
            "PartitionKey": thread_id,
            "RowKey": HEAD,
            "created": self.created,
            "updated": self.updated,
            "last": int64(self.last_seq),
            "active": self.active_run_id,
            "cancelling": self.cancelling,
            "messages": int64(self.messages),
            "floor": int64(self.floor),
            "oldest": self.oldest,
            "purging": self.purging or None,
            "agent": self.agent,
        }


@dataclass(slots=True)
class CachedHead:
    head: HeadRow
    # Step attempts checked current while the head had this ETag: still current while it has.
    verified: set[tuple[str, int]] = field(default_factory=set)


class Transaction:
    """One attempt at a write: the head it starts from and the operations it will submit."""

    def __init__(self, table: TableClient, thread_id: str, cached: CachedHead | None) -> None:
        self.table = table
        self.thread_id = thread_id
        self.cached = cached
        self.verified: set[tuple[str, int]] = set(cached.verified) if cached is not None else set()
        self.base: HeadRow | None = None
        self.next: HeadRow | None = None
        self.ops: list[tuple[Any, ...]] = []
        self.appended = False
        self.purging = False

    async def head(self) -> HeadRow | None:
        """The thread's head, or None if there is no such thread (or the purge is deleting it)."""
        if self.cached is not None:
            self.base = self.cached.head
        else:
            entity = await self.row(HEAD)
            self.base = None if entity is None else HeadRow.of(entity)
        if self.base is not None and self.base.purging:
            self.purging = True
            return None
        return self.base

    async def row(self, row_key: str) -> TableEntity | None:
        try:
            return await self.table.get_entity(self.thread_id, row_key)
        except ResourceNotFoundError:
            return None

    def create(self, entity: Entity) -> None:
        self.ops.append(("create", entity))

    def replace(self, row: TableEntity, entity: Entity) -> None:
        """Replace a row read in this attempt, failing if it changed since."""
        self.ops.append(
            ("update", entity, {"mode": UpdateMode.REPLACE, "etag": etag_of(row), "match_condition": IF_MATCH})
        )

    def delete(self, row_key: str) -> None:
        self.ops.append(("delete", {"PartitionKey": self.thread_id, "RowKey": row_key}))

    def merge(self, row: TableEntity, changes: Entity) -> None:
        """Change some properties of a row read in this attempt, failing if it changed since."""
        entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes}
        self.ops.append(
            ("update", entity, {"mode": UpdateMode.MERGE, "etag": etag_of(row), "match_condition": IF_MATCH})
        )

    def operations(self) -> list[tuple[Any, ...]]:
        assert self.next is not None, "every write moves the head: that is what serializes writers"
        head = self.next.entity(self.thread_id)
        if self.base is None or self.base.etag is None:
            return [("create", head), *self.ops]
        return [
            ("update", head, {"mode": UpdateMode.REPLACE, "etag": self.base.etag, "match_condition": IF_MATCH}),
            *self.ops,
        ]


def etag_of(row: TableEntity) -> str:
    return str(row.metadata["etag"])


def lost_race(exc: BaseException | None) -> bool:
    """A transaction refused because another writer got there first (412 If-Match, 409 exists)."""
    return isinstance(exc, TableTransactionError) and exc.status_code in (409, 412)
