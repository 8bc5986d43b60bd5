"""SQLite persistence for instances, their committed history and their unprocessed events (the inbox).

Everything an episode changes is written in one transaction, so a SIGKILL leaves either the state before the
episode (the triggering event still in the inbox) or the state after it. Work that is only implied by history
(activities without a completion, timers without a ``TimerFired``) is rediscovered from it on restart.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .events import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox (instance_id, id);
"""

_COLUMNS = "instance_id, name, execution_id, status, input, output, custom_status, created_time, last_updated_time"


@dataclass
class InstanceRow:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: datetime
    last_updated_time: datetime


@dataclass(frozen=True)
class InboxItem:
    id: int
    instance_id: str
    execution_id: str
    event: Event


def _row(values: tuple[object, ...]) -> InstanceRow:
    (instance_id, name, execution_id, status, input_text, output, custom_status, created, updated) = values
    return InstanceRow(
        instance_id=str(instance_id),
        name=str(name),
        execution_id=str(execution_id),
        status=str(status),
        input=None if input_text is None else str(input_text),
        output=None if output is None else str(output),
        custom_status=None if custom_status is None else str(custom_status),
        created_time=datetime.fromisoformat(str(created)),
        last_updated_time=datetime.fromisoformat(str(updated)),
    )


class HistoryStore:
    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly by transaction().
        self._conn = sqlite3.connect(db_path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get_instance(self, instance_id: str) -> InstanceRow | None:
        cur = self._conn.execute(f"SELECT {_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,))
        values = cur.fetchone()
        return None if values is None else _row(values)

    def list_instances(self) -> list[InstanceRow]:
        cur = self._conn.execute(f"SELECT {_COLUMNS} FROM instances ORDER BY created_time, instance_id")
        return [_row(values) for values in cur.fetchall()]

    def put_instance(self, row: InstanceRow) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO instances ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.instance_id,
                row.name,
                row.execution_id,
                row.status,
                row.input,
                row.output,
                row.custom_status,
                row.created_time.isoformat(),
                row.last_updated_time.isoformat(),
            ),
        )

    def delete_instance(self, instance_id: str) -> None:
        self.clear_history(instance_id)
        self.clear_inbox(instance_id)
        self._conn.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))

    def load_history(self, instance_id: str) -> list[Event]:
        cur = self._conn.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,))
        return [json.loads(text) for (text,) in cur.fetchall()]

    def append_history(self, instance_id: str, start_seq: int, events: Iterable[Event]) -> None:
        self._conn.executemany(
            "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
            [(instance_id, start_seq + i, json.dumps(e)) for i, e in enumerate(events)],
        )

    def clear_history(self, instance_id: str) -> None:
        self._conn.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    def enqueue(self, instance_id: str, execution_id: str, event: Event) -> None:
        self._conn.execute(
            "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?, ?, ?)",
            (instance_id, execution_id, json.dumps(event)),
        )

    def inbox(self, instance_id: str) -> list[InboxItem]:
        cur = self._conn.execute(
            "SELECT id, instance_id, execution_id, event FROM inbox WHERE instance_id = ? ORDER BY id",
            (instance_id,),
        )
        return [InboxItem(int(i), str(inst), str(ex), json.loads(text)) for (i, inst, ex, text) in cur.fetchall()]

    def inbox_heads(self) -> list[tuple[str, int]]:
        """(instance id, id of its oldest inbox item) of every instance with events waiting, oldest first."""
        cur = self._conn.execute("SELECT instance_id, MIN(id) FROM inbox GROUP BY instance_id ORDER BY MIN(id)")
        return [(str(instance_id), int(item_id)) for (instance_id, item_id) in cur.fetchall()]

    def delete_inbox_item(self, item_id: int) -> None:
        self._conn.execute("DELETE FROM inbox WHERE id = ?", (item_id,))

    def clear_inbox(self, instance_id: str) -> None:
        self._conn.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
