"""The embedded event store: one SQLite file, safe for several writers in several processes.

Each write is one `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock before reading
the thread's last seq, so concurrent appends from any process stay contiguous. Work runs in a
thread (one connection per thread) to keep the event loop free. Events past retention are
deleted by the thread's next write, in the same transaction; idle threads by the purge.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:
    from ...config import Settings

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    last_seq INTEGER NOT NULL, active_run_id TEXT, agent TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    thread_id TEXT NOT NULL, seq INTEGER NOT NULL, run_id TEXT NOT NULL, ts REAL NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (thread_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    thread_id TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    finished_at REAL, start_seq INTEGER NOT NULL, end_seq INTEGER, usage TEXT NOT NULL DEFAULT '{}', error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (thread_id, run_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS steps (
    thread_id TEXT NOT NULL, step_id TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL,
    attempt INTEGER NOT NULL, start_seq INTEGER NOT NULL, result TEXT, PRIMARY KEY (thread_id, step_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    thread_id TEXT NOT NULL, idx INTEGER NOT NULL, run_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (thread_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS append_keys (
    thread_id TEXT NOT NULL, key TEXT NOT NULL, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (thread_id, key)
) WITHOUT ROWID;
"""


class SQLiteEventStore(EventStore):
    backend = "sqlite"

    def __init__(
        self, path: Path, *, retention: float = DEFAULT_RETENTION, clock: Clock = time.time, busy_timeout: float = 5.0
    ) -> None:
        super().__init__(retention=retention, clock=clock)
        self.path = path
        # How long a statement waits for another connection's write lock before the store counts as unavailable.
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        # Each connection with the lock its thread holds while using it, so `close` never closes a
        # connection under a running statement (which crashes the interpreter, not just the query).
        self._connections: list[tuple[sqlite3.Connection, threading.Lock]] = []
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> SQLiteEventStore:
        return cls(settings.event_store_path, retention=settings.event_retention, clock=clock)

    # -- plumbing ---------------------------------------------------------------------------

    def _connection(self) -> tuple[sqlite3.Connection, threading.Lock]:
        held: tuple[sqlite3.Connection, threading.Lock] | None = getattr(self._local, "held", None)
        if held is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            with self._schema_lock:
                if not self._schema_ready:
                    try:
                        con.executescript(_SCHEMA)
                        _add_missing_columns(con)
                    except BaseException:
                        # Not kept for this thread: its next call connects again and retries the schema.
                        con.close()
                        raise
                    self._schema_ready = True
                held = (con, threading.Lock())
                self._connections.append(held)
                self._local.held = held
        return held

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def work() -> T:
            try:
                con, in_use = self._connection()
                with in_use:
                    return fn(con)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite event store at '{self.path}' failed: {exc}") from exc

        return await asyncio.to_thread(work)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def tx(con: sqlite3.Connection) -> T:
            con.execute("BEGIN IMMEDIATE")
            try:
                result = fn(con)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            return result

        return await self._run(tx)

    def _append(
        self,
        con: sqlite3.Connection,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        key: str | None = None,
        *,
        finishing: bool = False,
    ) -> list[Envelope]:
        run = con.execute(
            "SELECT status, cancel_requested FROM runs WHERE thread_id = ? AND run_id = ?", (thread_id, run_id)
        ).fetchone()
        if run is not None and (run[0] != RunStatus.RUNNING.value or (run[1] and not finishing)):
            raise RunOver(f"Run '{run_id}' is {'cancelling' if run[0] == RunStatus.RUNNING.value else run[0]}.")
        if key is not None:
            seen = con.execute(
                "SELECT first_seq, count FROM append_keys WHERE thread_id = ? AND key = ?", (thread_id, key)
            ).fetchone()
            if seen is not None:
                return _select_range(con, thread_id, seen[0] - 1, seen[1])
        row = con.execute("SELECT last_seq FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
        if row is None:
            raise ThreadNotFound(thread_id)
        last, now = row[0], self._clock()
        envelopes = [Envelope(last + i, run_id, now, e.type, e.data) for i, e in enumerate(events, start=1)]
        con.executemany(
            "INSERT INTO events (thread_id, seq, run_id, ts, type, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(thread_id, e.seq, run_id, now, e.type, e.data) for e in envelopes],
        )
        con.execute(
            "UPDATE threads SET last_seq = ?, updated_at = ? WHERE thread_id = ?", (last + len(events), now, thread_id)
        )
        if key is not None:
            con.execute(
                "INSERT INTO append_keys (thread_id, key, first_seq, count) VALUES (?, ?, ?, ?)",
                (thread_id, key, last + 1, len(events)),
            )
        self._trim(con, thread_id, now, last + len(events))
        return envelopes

    def _trim(self, con: sqlite3.Connection, thread_id: str, now: float, last: int) -> None:
        """Delete the thread's events past retention; while there are none this is one index seek."""
        cutoff = now - self.retention
        oldest = con.execute("SELECT ts FROM events WHERE thread_id = ? ORDER BY seq LIMIT 1", (thread_id,)).fetchone()
        if oldest is None or oldest[0] >= cutoff:
            return
        first_kept = con.execute(
            "SELECT seq FROM events WHERE thread_id = ? AND ts >= ? ORDER BY seq LIMIT 1", (thread_id, cutoff)
        ).fetchone()
        keep = last + 1 if first_kept is None else first_kept[0]
        con.execute("DELETE FROM events WHERE thread_id = ? AND seq < ?", (thread_id, keep))
        con.execute("DELETE FROM append_keys WHERE thread_id = ? AND first_seq + count <= ?", (thread_id, keep))

    @staticmethod
    def _add_messages(con: sqlite3.Connection, thread_id: str, run_id: str, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        # MAX walks the primary key to its end; COUNT would scan the whole conversation.
        (count,) = con.execute(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM messages WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        con.executemany(
            "INSERT INTO messages (thread_id, idx, run_id, data) VALUES (?, ?, ?, ?)",
            [(thread_id, count + i, run_id, json.dumps(m, separators=(",", ":"))) for i, m in enumerate(messages)],
        )

    # -- the interface ------------------------------------------------------------------------

    async def ping(self) -> None:
        # Touch the file itself: `SELECT 1` would succeed with the database gone.
        await self._run(lambda con: con.execute("SELECT 1 FROM threads LIMIT 1").fetchone())

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
        def tx(con: sqlite3.Connection) -> list[Envelope]:
            row = con.execute(
                "SELECT last_seq, active_run_id, agent FROM threads WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            now = self._clock()
            if row is None:
                if not create:
                    raise ThreadNotFound(thread_id)
                con.execute(
                    "INSERT INTO threads (thread_id, created_at, updated_at, last_seq) VALUES (?, ?, ?, 0)",
                    (thread_id, now, now),
                )
                last = 0
            else:
                last, active, owner = row
                if owner is not None and owner != agent:
                    raise AgentMismatch(thread_id, owner, agent)
                if active is not None:
                    raise RunAlreadyActive(thread_id, active)
            con.execute(
                "INSERT INTO runs (thread_id, run_id, status, created_at, start_seq) VALUES (?, ?, ?, ?, ?)",
                (thread_id, run_id, RunStatus.RUNNING.value, now, last + 1),
            )
            # Records the owner of a new thread, and claims one stored before threads had owners.
            con.execute(
                "UPDATE threads SET active_run_id = ?, agent = ? WHERE thread_id = ?", (run_id, agent, thread_id)
            )
            self._add_messages(con, thread_id, run_id, messages)
            return self._append(con, thread_id, run_id, events)

        return self._committed(thread_id, await self._write(tx))

    async def append(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        *,
        key: str | None = None,
        attempt: StepAttempt | None = None,
    ) -> list[Envelope]:
        def tx(con: sqlite3.Connection) -> list[Envelope]:
            if attempt is not None:
                _check_current(con, thread_id, attempt.step_id, attempt.attempt)
            return self._append(con, thread_id, run_id, events, key)

        envelopes = await self._write(tx)
        return self._committed(thread_id, envelopes)

    async def read(self, thread_id: str, *, after: int, limit: int = 1000) -> list[Envelope]:
        def query(con: sqlite3.Connection) -> list[Envelope]:
            envelopes = _select_range(con, thread_id, after, limit)
            if not envelopes or envelopes[0].seq != after + 1:
                floor = _floor(con, thread_id)
                if after < floor:
                    raise CursorExpired(thread_id, after, floor)
            return envelopes

        return await self._run(query)

    async def head(self, thread_id: str) -> ThreadHead | None:
        def query(con: sqlite3.Connection) -> ThreadHead | None:
            row = con.execute(
                "SELECT last_seq, active_run_id, agent FROM threads WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            return None if row is None else ThreadHead(thread_id, row[0], row[1], _floor(con, thread_id), row[2])

        return await self._run(query)

    async def get_thread(self, thread_id: str) -> ThreadInfo | None:
        def query(con: sqlite3.Connection) -> ThreadInfo | None:
            row = con.execute(
                "SELECT created_at, updated_at, last_seq, active_run_id, agent FROM threads WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            if row is None:
                return None
            runs = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = ? ORDER BY start_seq", (thread_id,)
            ).fetchall()
            return ThreadInfo(thread_id, row[0], row[1], row[2], row[3], [_run(r) for r in runs], row[4])

        return await self._run(query)

    async def get_run(self, thread_id: str, run_id: str) -> RunInfo | None:
        def query(con: sqlite3.Connection) -> RunInfo | None:
            row = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = ? AND run_id = ?", (thread_id, run_id)
            ).fetchone()
            return None if row is None else _run(row)

        return await self._run(query)

    async def request_cancel(self, thread_id: str, run_id: str) -> RunInfo | None:
        def tx(con: sqlite3.Connection) -> RunInfo | None:
            con.execute(
                "UPDATE runs SET cancel_requested = 1 WHERE thread_id = ? AND run_id = ? AND status = ?",
                (thread_id, run_id, RunStatus.RUNNING.value),
            )
            row = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = ? AND run_id = ?", (thread_id, run_id)
            ).fetchone()
            return None if row is None else _run(row)

        return await self._write(tx)

    async def get_messages(self, thread_id: str) -> list[dict[str, Any]]:
        def query(con: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = con.execute("SELECT data FROM messages WHERE thread_id = ? ORDER BY idx", (thread_id,)).fetchall()
            return [json.loads(r[0]) for r in rows]

        return await self._run(query)

    async def get_step(self, thread_id: str, step_id: str) -> StepRecord | None:
        def query(con: sqlite3.Connection) -> StepRecord | None:
            row = con.execute(
                f"SELECT {_STEP_COLUMNS} FROM steps WHERE thread_id = ? AND step_id = ?", (thread_id, step_id)
            ).fetchone()
            return None if row is None else _step(row)

        return await self._run(query)

    async def open_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        def query(con: sqlite3.Connection) -> list[StepRecord]:
            rows = con.execute(
                f"SELECT {_STEP_COLUMNS} FROM steps WHERE thread_id = ? AND run_id = ? AND status = ?",
                (thread_id, run_id, StepStatus.STARTED.value),
            ).fetchall()
            return [_step(r) for r in rows]

        return await self._run(query)

    async def begin_step(self, thread_id: str, run_id: str, step_id: str, attempt: int) -> StepRecord:
        def tx(con: sqlite3.Connection) -> StepRecord:
            row = con.execute("SELECT last_seq FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
            if row is None:
                raise ThreadNotFound(thread_id)
            last = row[0]
            con.execute(
                "INSERT OR REPLACE INTO steps (thread_id, step_id, run_id, status, attempt, start_seq) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (thread_id, step_id, run_id, StepStatus.STARTED.value, attempt, last),
            )
            return StepRecord(step_id, run_id, StepStatus.STARTED, attempt, last)

        return await self._write(tx)

    async def discard_step(
        self, thread_id: str, run_id: str, step_id: str, attempt: int, events: list[NewEvent]
    ) -> list[Envelope]:
        def tx(con: sqlite3.Connection) -> list[Envelope]:
            row = con.execute(
                "SELECT status, attempt FROM steps WHERE thread_id = ? AND step_id = ?", (thread_id, step_id)
            ).fetchone()
            if row is None or row[0] != StepStatus.STARTED.value or row[1] != attempt:
                return []
            con.execute(
                "UPDATE steps SET status = ? WHERE thread_id = ? AND step_id = ?",
                (StepStatus.DISCARDED.value, thread_id, step_id),
            )
            return self._append(con, thread_id, run_id, events, finishing=True)

        return self._committed(thread_id, await self._write(tx))

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
        def tx(con: sqlite3.Connection) -> list[Envelope]:
            row = con.execute(
                "SELECT status FROM steps WHERE thread_id = ? AND step_id = ?", (thread_id, step_id)
            ).fetchone()
            if row is not None and row[0] == StepStatus.COMMITTED.value:
                return []
            if attempt is not None:
                _check_current(con, thread_id, step_id, attempt)
            envelopes = self._append(con, thread_id, run_id, events)
            con.execute(
                "INSERT INTO steps (thread_id, step_id, run_id, status, attempt, start_seq, result) "
                "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (thread_id, step_id) "
                "DO UPDATE SET status = excluded.status, result = excluded.result",
                (
                    thread_id,
                    step_id,
                    run_id,
                    StepStatus.COMMITTED.value,
                    envelopes[0].seq - 1 if envelopes else 0,
                    json.dumps(result),
                ),
            )
            self._add_messages(con, thread_id, run_id, messages)
            if usage:
                (raw,) = con.execute(
                    "SELECT usage FROM runs WHERE thread_id = ? AND run_id = ?", (thread_id, run_id)
                ).fetchone()
                total = json.loads(raw)
                for name, value in usage.items():
                    total[name] = total.get(name, 0) + value
                con.execute(
                    "UPDATE runs SET usage = ? WHERE thread_id = ? AND run_id = ?",
                    (json.dumps(total), thread_id, run_id),
                )
            return envelopes

        return self._committed(thread_id, await self._write(tx))

    async def finish_run(
        self,
        thread_id: str,
        run_id: str,
        status: RunStatus,
        events: list[NewEvent],
        *,
        error: dict[str, str] | None = None,
    ) -> list[Envelope]:
        def tx(con: sqlite3.Connection) -> list[Envelope]:
            row = con.execute(
                "SELECT status, cancel_requested FROM runs WHERE thread_id = ? AND run_id = ?", (thread_id, run_id)
            ).fetchone()
            if row is None or row[0] != RunStatus.RUNNING.value:
                return []
            if row[1] and status is not RunStatus.CANCELLED:
                raise CancelRequested(f"Run '{run_id}' is cancelling: it can only end cancelled.")
            envelopes = self._append(con, thread_id, run_id, events, finishing=True)
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ?, end_seq = ?, error = ? "
                "WHERE thread_id = ? AND run_id = ?",
                (
                    status.value,
                    envelopes[-1].ts,
                    envelopes[-1].seq,
                    json.dumps(error) if error else None,
                    thread_id,
                    run_id,
                ),
            )
            con.execute(
                "UPDATE threads SET active_run_id = NULL WHERE thread_id = ? AND active_run_id = ?", (thread_id, run_id)
            )
            return envelopes

        return self._committed(thread_id, await self._write(tx))

    async def list_active_runs(self) -> list[ActiveRun]:
        def query(con: sqlite3.Connection) -> list[ActiveRun]:
            rows = con.execute("SELECT thread_id, active_run_id FROM threads WHERE active_run_id IS NOT NULL")
            return [ActiveRun(thread_id, run_id) for thread_id, run_id in rows]

        return await self._run(query)

    async def purge_idle_threads(self, idle_before: float) -> list[PurgedThread]:
        def tx(con: sqlite3.Connection) -> list[PurgedThread]:
            idle = con.execute(
                "SELECT thread_id FROM threads WHERE updated_at < ? LIMIT ?", (idle_before, _PURGE_BATCH)
            ).fetchall()
            purged = []
            for (thread_id,) in idle:
                runs = con.execute("SELECT run_id FROM runs WHERE thread_id = ? ORDER BY start_seq", (thread_id,))
                purged.append(PurgedThread(thread_id, [run_id for (run_id,) in runs]))
                for table in _THREAD_TABLES:
                    con.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
            return purged

        # Batches keep each transaction, and so the write lock, short.
        purged: list[PurgedThread] = []
        while batch := await self._write(tx):
            purged += batch
        return purged

    async def close(self) -> None:
        def close_all() -> None:
            with self._schema_lock:
                held, self._connections = self._connections, []
                self._local = threading.local()
            for con, in_use in held:
                # Waits for a statement still running in a worker thread (a reader's tail, say).
                with in_use:
                    con.close()

        await asyncio.to_thread(close_all)


_PURGE_BATCH = 100
_THREAD_TABLES = ("events", "runs", "steps", "messages", "append_keys", "threads")
_RUN_COLUMNS = "run_id, status, created_at, finished_at, start_seq, end_seq, usage, error, cancel_requested"
_STEP_COLUMNS = "step_id, run_id, status, attempt, start_seq, result"


def _add_missing_columns(con: sqlite3.Connection) -> None:
    """Add the columns a database file made by an earlier version lacks: `IF NOT EXISTS` keeps its tables."""
    if "agent" in _columns(con, "threads"):
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        # Checked again under the write lock: another process may have added it since.
        if "agent" not in _columns(con, "threads"):
            con.execute("ALTER TABLE threads ADD COLUMN agent TEXT")
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def _check_current(con: sqlite3.Connection, thread_id: str, step_id: str, attempt: int) -> None:
    row = con.execute(
        "SELECT status, attempt FROM steps WHERE thread_id = ? AND step_id = ?", (thread_id, step_id)
    ).fetchone()
    if row is None or row[0] != StepStatus.STARTED.value or row[1] != attempt:
        raise StepSuperseded(f"Attempt {attempt} of step '{step_id}' is no longer current.")


def _floor(con: sqlite3.Connection, thread_id: str) -> int:
    """The highest seq trimmed for retention: events are only ever deleted from the front."""
    first = con.execute("SELECT seq FROM events WHERE thread_id = ? ORDER BY seq LIMIT 1", (thread_id,)).fetchone()
    if first is not None:
        return int(first[0]) - 1
    last = con.execute("SELECT last_seq FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
    return 0 if last is None else int(last[0])


def _select_range(con: sqlite3.Connection, thread_id: str, after: int, limit: int) -> list[Envelope]:
    rows = con.execute(
        "SELECT seq, run_id, ts, type, data FROM events WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (thread_id, after, limit),
    ).fetchall()
    return [Envelope(*row) for row in rows]


def _run(row: tuple[Any, ...]) -> RunInfo:
    run_id, status, created, finished, start, end, usage, error, cancel_requested = row
    return RunInfo(
        run_id,
        RunStatus(status),
        created,
        finished,
        start,
        end,
        json.loads(usage),
        json.loads(error) if error else None,
        bool(cancel_requested),
    )


def _step(row: tuple[Any, ...]) -> StepRecord:
    step_id, run_id, status, attempt, start, result = row
    return StepRecord(step_id, run_id, StepStatus(status), attempt, start, json.loads(result) if result else None)
