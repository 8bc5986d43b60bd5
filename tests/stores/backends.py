"""The event store backends every store test runs against, each with the server it needs.

A backend here starts its real server on a free loopback port (or none, for SQLite), hands out
isolated stores on it (`new_env` names a fresh one as app settings), and can take the store away
and bring it back (`outage`). Adding a backend: a class like these, and one line in BACKENDS.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import redis
from azure.core.exceptions import ResourceNotFoundError

from agentstream.config import Settings
from agentstream.log.stores import EventStore, create_store
from agentstream.log.stores.base import Clock
from agentstream.log.stores.sqlite import SQLiteEventStore
from tests.azurite import Azurite
from tests.harness import free_port, wait_until


class Backend(abc.ABC):
    name: ClassVar[str]
    #: Whether reads keep working while `outage()` is in force (SQLite: only writes are locked out).
    reads_during_outage: ClassVar[bool] = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._names = itertools.count(1)

    def start(self) -> None:  # noqa: B027 -- a backend without a server has nothing to start
        """Start the backend's server, if it has one."""

    def stop(self) -> None:  # noqa: B027
        """Stop the backend's server, if it has one."""

    @abc.abstractmethod
    def new_env(self) -> dict[str, str]:
        """App settings naming a fresh, empty store on this backend."""

    @classmethod
    def open_store(cls, env: dict[str, str], *, retention: float | None = None, clock: Clock = time.time) -> EventStore:
        """A store on `env`; a class method, so that other processes can open one too."""
        settings = dict(env)
        if retention is not None:
            settings["EVENT_RETENTION"] = repr(retention)
        return create_store(Settings.from_env(settings), clock=clock)

    @abc.abstractmethod
    @contextlib.contextmanager
    def outage(self, env: dict[str, str]) -> Iterator[None]:
        """The store named by `env` cannot be reached inside the block; it is back, data intact, after it."""

    @abc.abstractmethod
    def snapshot(self, env: dict[str, str]) -> dict[str, Any]:
        """Everything stored, summarized, to show that a refused request wrote nothing."""

    @abc.abstractmethod
    def forget_owners(self, env: dict[str, str]) -> None:
        """Put every thread of the (closed) store back in the shape stored before threads had owners."""


class SQLiteBackend(Backend):
    name = "sqlite"
    reads_during_outage = True

    def new_env(self) -> dict[str, str]:
        return {"EVENT_STORE": "sqlite", "EVENT_STORE_PATH": str(self.workdir / f"events-{next(self._names)}.db")}

    @classmethod
    def open_store(cls, env: dict[str, str], *, retention: float | None = None, clock: Clock = time.time) -> EventStore:
        store = super().open_store(env, retention=retention, clock=clock)
        assert isinstance(store, SQLiteEventStore)
        # A locked-out write fails after this long instead of the production default.
        store.busy_timeout = 0.5
        return store

    @contextlib.contextmanager
    def outage(self, env: dict[str, str]) -> Iterator[None]:
        # The embedded store's way of being unreachable: another process holds the write lock
        # (a stuck writer, a backup). Writes wait for it, then fail; WAL readers go on.
        holder = sqlite3.connect(env["EVENT_STORE_PATH"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    def snapshot(self, env: dict[str, str]) -> dict[str, Any]:
        with contextlib.closing(sqlite3.connect(env["EVENT_STORE_PATH"])) as con:
            return {
                table: con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("threads", "events", "runs", "messages", "steps", "append_keys")
            }

    def forget_owners(self, env: dict[str, str]) -> None:
        # The file's schema then reads exactly as the earlier version created it.
        with contextlib.closing(sqlite3.connect(env["EVENT_STORE_PATH"], isolation_level=None)) as con:
            con.execute("ALTER TABLE threads DROP COLUMN agent")


class RedisBackend(Backend):
    """A real redis-server (apt), append-only with an fsync per write: a SIGKILL loses nothing acknowledged."""

    name = "redis"
    DATABASES = 2048

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "redis.log"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: `make test` installs it; `make test-fast` needs no Redis"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--databases",
                str(self.DATABASES),
                "--logfile",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout=30, message=f"redis-server on port {self.port} (log: {self.log_path})")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}: {self._log_tail()}")
        try:
            with redis.Redis(port=self.port, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.exceptions.RedisError:
            return False

    def _log_tail(self) -> str:
        return self.log_path.read_text()[-2000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def new_env(self) -> dict[str, str]:
        database = next(self._names)
        assert database < self.DATABASES, "more isolated stores than redis-server databases"
        return {"EVENT_STORE": "redis", "REDIS_URL": f"redis://127.0.0.1:{self.port}/{database}"}

    def client(self, env: dict[str, str]) -> redis.Redis:
        return redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)

    @contextlib.contextmanager
    def outage(self, env: dict[str, str]) -> Iterator[None]:
        self.kill()
        try:
            yield
        finally:
            self.start()

    def snapshot(self, env: dict[str, str]) -> dict[str, Any]:
        lengths = {
            "stream": "xlen",
            "hash": "hlen",
            "list": "llen",
            "set": "scard",
            "zset": "zcard",
            "string": "strlen",
        }
        with self.client(env) as client:
            return {
                key: getattr(client, lengths[client.type(key)])(key)
                for key in client.scan_iter()
                if not key.startswith("{agentstream}:wake:")  # a host's tail wake-ups, not stored data
            }

    def forget_owners(self, env: dict[str, str]) -> None:
        with self.client(env) as client:
            for key in client.scan_iter(match="{agentstream}:t:*:meta"):
                client.hdel(key, "agent")


class TableBackend(Backend):
    """A real Azurite Table service (package.json's pin), keeping its data in a folder across restarts."""

    name = "table"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.azurite = Azurite(workdir / "azurite.log", workspace=workdir / "azurite")

    def start(self) -> None:
        self.azurite.start()

    def stop(self) -> None:
        self.azurite.stop()

    def new_env(self) -> dict[str, str]:
        return {
            "EVENT_STORE": "table",
            "AzureWebJobsStorage": self.azurite.connection_string,
            "EVENT_TABLE_PREFIX": f"store{next(self._names)}",
        }

    @contextlib.contextmanager
    def outage(self, env: dict[str, str]) -> Iterator[None]:
        self.azurite.stop()
        try:
            yield
        finally:
            self.azurite.start()

    def snapshot(self, env: dict[str, str]) -> dict[str, Any]:
        from azure.data.tables import TableServiceClient

        counts: dict[str, int] = {}
        with TableServiceClient.from_connection_string(env["AzureWebJobsStorage"]) as service:
            for suffix in ("events", "threads"):
                table = service.get_table_client(env["EVENT_TABLE_PREFIX"] + suffix)
                with contextlib.suppress(ResourceNotFoundError):
                    for row in table.list_entities(select=["RowKey"]):
                        kind = f"{suffix}:{row['RowKey'][0]}"
                        counts[kind] = counts.get(kind, 0) + 1
        return counts

    def forget_owners(self, env: dict[str, str]) -> None:
        from azure.data.tables import TableServiceClient, UpdateMode

        with TableServiceClient.from_connection_string(env["AzureWebJobsStorage"]) as service:
            table = service.get_table_client(env["EVENT_TABLE_PREFIX"] + "events")
            for head in table.query_entities("RowKey eq 'h'"):
                table.update_entity({k: v for k, v in head.items() if k != "agent"}, mode=UpdateMode.REPLACE)


BACKENDS: dict[str, type[Backend]] = {
    "sqlite": SQLiteBackend,
    "table": TableBackend,
    "redis": RedisBackend,
}
